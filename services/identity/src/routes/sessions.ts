import { AnonymousSessionRequest, TokenBundle } from '@offload/contracts';
import { errorResponse, routePlugin, type App } from '@offload/platform/http';
import { shortHash } from '../security/hashing.js';
import {
  createAnonymousSession,
  type CreateAnonymousSessionDeps,
} from '../use-cases/create-anonymous-session.js';

/** Public session routes (no bearer token). */
export function sessionRoutes(deps: CreateAnonymousSessionDeps) {
  return routePlugin('identity session routes', async (app: App) => {
    app.post(
      '/v1/sessions/anonymous',
      {
        schema: {
          tags: ['sessions'],
          summary: 'Start an anonymous device session',
          description:
            'Always 201: every call starts a new session (refresh-token family). The first call for an ' +
            'install id also creates an anonymous user; later calls for the same install id return ' +
            'tokens for that same user. An install id whose user has linked a Google identity gets 409 ' +
            '`identity_already_linked` (refresh the session or sign in instead). Issuance is limited per ' +
            'client IP (8/min) and per install id (4/min): 429 `session_rate_limited` with `retry_after`.',
          body: AnonymousSessionRequest,
          response: {
            201: TokenBundle,
            401: errorResponse,
            409: errorResponse,
            422: errorResponse,
            429: errorResponse,
          },
        },
      },
      async (request, reply) => {
        const { bundle, userCreated } = await createAnonymousSession(deps, {
          ...request.body,
          ip: request.ip,
        });
        request.log.info(
          { user_id: bundle.user_id, new_user: userCreated, install: shortHash(request.body.install_id) },
          'anonymous session started',
        );
        return reply.code(201).header('cache-control', 'no-store').send(bundle);
      },
    );
  });
}
