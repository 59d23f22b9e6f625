import { createHttpServer, type App } from '@offload/platform/http';
import type { UsageDeps } from './deps.js';
import { creditRoutes } from './routes/credits.js';
import { usageRoutes } from './routes/usage.js';

export const SERVICE_VERSION = '0.1.0';

/** Builds the usage HTTP app; it never listens (server.ts does). */
export async function buildUsageApp(deps: UsageDeps): Promise<App> {
  const app = await createHttpServer({
    service: 'usage',
    version: SERVICE_VERSION,
    logger: deps.logger,
    openapi: { title: 'Offload Cloud usage', description: 'Usage meters and AI credits' },
    readiness: {
      postgres: () => deps.database.ping(),
      nats: async () => {
        if (deps.bus.nc.isClosed()) throw new Error('nats closed');
        await deps.bus.nc.flush();
      },
    },
  });
  await app.register(creditRoutes(deps));
  await app.register(usageRoutes(deps));
  return app;
}
