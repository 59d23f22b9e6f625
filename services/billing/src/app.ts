import { createHttpServer, type App } from '@offload/platform/http';
import type { BillingDeps } from './deps.js';
import { billingRoutes } from './routes/billing.js';

export const SERVICE_VERSION = '0.1.0';

/** Builds the billing HTTP app; it never listens (server.ts does). */
export async function buildBillingApp(deps: BillingDeps): Promise<App> {
  const app = await createHttpServer({
    service: 'billing',
    version: SERVICE_VERSION,
    logger: deps.logger,
    openapi: { title: 'Offload Cloud billing', description: 'Subscriptions and Checkout.com webhooks' },
    readiness: {
      postgres: () => deps.database.ping(),
      nats: async () => {
        if (deps.bus.nc.isClosed()) throw new Error('nats closed');
        await deps.bus.nc.flush();
      },
    },
  });
  await app.register(billingRoutes(deps));
  return app;
}
