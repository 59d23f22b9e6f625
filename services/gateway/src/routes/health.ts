import { GatewayHealth } from '@offload/contracts';
import { routePlugin, type App } from '@offload/platform/http';
import { checkHealth, type CheckHealthDeps } from '../use-cases/check-health.js';

export interface HealthRoutesDeps extends CheckHealthDeps {
  service: string;
  version: string;
  config: CheckHealthDeps['config'] & { APP_ENV: string };
}

/** `GET /v1/health` (DESIGN 6): the whole system's view for clients and operators. No token needed. */
export function healthRoutes(deps: HealthRoutesDeps) {
  return routePlugin('gateway health routes', async (app: App) => {
    app.get(
      '/v1/health',
      {
        schema: {
          tags: ['health'],
          summary: 'Health of the gateway and of every service behind it',
          response: { 200: GatewayHealth, 503: GatewayHealth },
        },
      },
      async (_request, reply) => {
        const report = await checkHealth(deps);
        return reply.code(report.status === 'ok' ? 200 : 503).send({
          status: report.status,
          service: deps.service,
          version: deps.version,
          environment: deps.config.APP_ENV,
          checks: report.checks,
        });
      },
    );
  });
}
