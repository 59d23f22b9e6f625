import { Erasure, UpdateUserRequest, UserProfile } from '@offload/contracts';
import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { errorResponse, routePlugin, type App } from '@offload/platform/http';
import { z } from 'zod';
import { eraseCurrentUser, type EraseCurrentUserDeps } from '../use-cases/erase-current-user.js';
import { getCurrentUser, type GetCurrentUserDeps } from '../use-cases/get-current-user.js';
import { getErasure } from '../use-cases/get-erasure.js';
import { updateCurrentUser, type UpdateCurrentUserDeps } from '../use-cases/update-current-user.js';

export type UserRoutesDeps = GetCurrentUserDeps &
  UpdateCurrentUserDeps &
  EraseCurrentUserDeps & { verifier: TokenVerifier };

const erasureLocation = (erasureId: string) => `/v1/users/erasures/${erasureId}`;

/** Routes about the token's own user; every one needs a valid access token (encapsulated hook). */
export function userRoutes(deps: UserRoutesDeps) {
  return routePlugin('identity user routes', async (app: App) => {
    app.addHook('onRequest', requireUser(deps.verifier));

    app.get(
      '/v1/users/me',
      {
        schema: {
          tags: ['users'],
          summary: 'The signed-in user',
          security: [{ bearerAuth: [] }],
          response: { 200: UserProfile, 401: errorResponse, 404: errorResponse },
        },
      },
      async (request) => getCurrentUser(deps, { userId: request.user.userId }),
    );

    app.patch(
      '/v1/users/me',
      {
        schema: {
          tags: ['users'],
          summary: 'Change the name or time zone',
          description:
            'Omitted fields stay, `null` clears. `name`: 1-100 characters; `timezone`: an IANA name ' +
            '(`Europe/Berlin`). With `version`, a profile changed meanwhile answers 409 `conflict`.',
          security: [{ bearerAuth: [] }],
          body: UpdateUserRequest,
          response: {
            200: UserProfile,
            401: errorResponse,
            404: errorResponse,
            409: errorResponse,
            422: errorResponse,
          },
        },
      },
      async (request) => updateCurrentUser(deps, { userId: request.user.userId, patch: request.body }),
    );

    app.delete(
      '/v1/users/me',
      {
        schema: {
          tags: ['users'],
          summary: 'Erase the account and all its data',
          description:
            'Signs the user out everywhere and asks every service to purge the user’s data. 200 with ' +
            '`status: completed` once every service confirmed (the response says what each erased); ' +
            '202 with `status: pending` when confirmations are still outstanding after a few seconds: ' +
            'poll the `Location` (no token needed, the erasure id is the key).',
          security: [{ bearerAuth: [] }],
          response: { 200: Erasure, 202: Erasure, 401: errorResponse, 404: errorResponse },
        },
      },
      async (request, reply) => {
        const erasure = await eraseCurrentUser(deps, { userId: request.user.userId });
        request.log.info(
          { user_id: request.user.userId, erasure_id: erasure.erasure_id, status: erasure.status },
          'account erasure requested',
        );
        return reply
          .code(erasure.status === 'completed' ? 200 : 202)
          .header('location', erasureLocation(erasure.erasure_id))
          .header('cache-control', 'no-store')
          .send(erasure);
      },
    );
  });
}

/** Erasure progress: public, addressed by the unguessable erasure id the DELETE answered with. */
export function erasureRoutes(deps: EraseCurrentUserDeps) {
  return routePlugin('identity erasure routes', async (app: App) => {
    app.get(
      '/v1/users/erasures/:erasure_id',
      {
        schema: {
          tags: ['users'],
          summary: 'Progress of an account erasure',
          params: z.object({ erasure_id: z.uuid() }).strict(),
          response: { 200: Erasure, 404: errorResponse, 422: errorResponse },
        },
      },
      async (request, reply) =>
        reply
          .header('cache-control', 'no-store')
          .send(await getErasure(deps, { erasureId: request.params.erasure_id })),
    );
  });
}
