import { Jwks } from '@offload/contracts';
import { routePlugin, type App } from '@offload/platform/http';
import type { SigningKeyRing } from '../security/signing-keys.js';

/** Public signing keys, so the gateway and every service verify access tokens locally (DESIGN 5). */
export function keyRoutes(deps: { keyRing: SigningKeyRing }) {
  return routePlugin('identity key routes', async (app: App) => {
    app.get(
      '/v1/.well-known/jwks.json',
      {
        schema: {
          tags: ['keys'],
          summary: 'Public keys that verify access tokens (JWKS)',
          response: { 200: Jwks },
        },
      },
      async (_request, reply) =>
        reply.header('cache-control', 'public, max-age=300').send(await deps.keyRing.jwks()),
    );
  });
}
