import { createHttpServer, type App } from '@offload/platform/http';
import { trustedProxies } from './config.js';
import type { AiDeps } from './deps.js';
import { aiRoutes } from './routes/ai.js';
import { breakdownRoutes } from './routes/breakdown.js';

export const SERVICE_VERSION = '0.1.0';

/** Builds the ai HTTP app; it never listens (server.ts does). */
export async function buildAiApp(deps: AiDeps): Promise<App> {
  const app = await createHttpServer({
    service: 'ai',
    version: SERVICE_VERSION,
    logger: deps.logger,
    // Behind the gateway, the per-IP inference limit needs the client's address (X-Forwarded-For).
    trustProxy: trustedProxies(deps.config),
    openapi: {
      title: 'Offload Cloud ai',
      description: 'AI features (breakdown, chat, subtasks, note conversion)',
    },
    readiness: {
      postgres: () => deps.database.ping(),
      nats: async () => {
        if (deps.bus.nc.isClosed()) throw new Error('nats closed');
        await deps.bus.nc.flush();
      },
    },
  });
  await app.register(breakdownRoutes(deps));
  await app.register(aiRoutes(deps));
  return app;
}
