import { createHttpServer, type App } from '@offload/platform/http';
import type { IdentityDeps } from './deps.js';
import { authRoutes } from './routes/auth.js';
import { keyRoutes } from './routes/keys.js';
import { sessionRoutes } from './routes/sessions.js';
import { erasureRoutes, userRoutes } from './routes/users.js';

export const SERVICE_VERSION = '0.1.0';

/** Builds the identity HTTP app; it never listens (server.ts does). */
export async function buildIdentityApp(deps: IdentityDeps): Promise<App> {
  const app = await createHttpServer({
    service: 'identity',
    version: SERVICE_VERSION,
    logger: deps.logger,
    openapi: {
      title: 'Offload Cloud identity',
      description: 'Sessions, Google sign-in, refresh tokens, users, erasure and token signing keys',
    },
    trustProxy: deps.config.TRUSTED_PROXIES,
    readiness: {
      postgres: () => deps.database.ping(),
      nats: async () => {
        if (deps.bus.nc.isClosed()) throw new Error('nats closed');
        await deps.bus.nc.flush();
      },
    },
  });
  await app.register(sessionRoutes(deps));
  await app.register(authRoutes(deps));
  await app.register(keyRoutes(deps));
  await app.register(userRoutes(deps));
  await app.register(erasureRoutes(deps));
  return app;
}
