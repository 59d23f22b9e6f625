import {
  GoogleSignInRequest,
  LogoutRequest,
  RefreshRequest,
  SignInResponse,
  TokenBundle,
} from '@offload/contracts';
import { bearerToken, requireUser, type TokenVerifier } from '@offload/platform/auth';
import { errorResponse, routePlugin, type App } from '@offload/platform/http';
import { z } from 'zod';
import { logOut, type LogOutDeps } from '../use-cases/log-out.js';
import { logOutEverywhere, type LogOutEverywhereDeps } from '../use-cases/log-out-everywhere.js';
import { refreshSession, type RefreshSessionDeps } from '../use-cases/refresh-session.js';
import { signInWithGoogle, type SignInWithGoogleDeps } from '../use-cases/sign-in-with-google.js';

export type AuthRoutesDeps = SignInWithGoogleDeps &
  RefreshSessionDeps &
  LogOutDeps &
  LogOutEverywhereDeps & { verifier: TokenVerifier };

const noContent = z.null().describe('No content');

/** `/v1/auth/*`: Google sign-in and linking, refresh-token rotation, logout (DESIGN 5). */
export function authRoutes(deps: AuthRoutesDeps) {
  return routePlugin('identity auth routes', async (app: App) => {
    app.post(
      '/v1/auth/google',
      {
        schema: {
          tags: ['auth'],
          summary: 'Sign in with Google, or link Google to the anonymous caller',
          description:
            'Verifies a Google ID token. Without a bearer token: signs in the Google account’s user ' +
            '(created on first sign-in). With the bearer token of an anonymous user: links the Google ' +
            'account to that user, keeping its id and everything it owns; 409 `identity_already_linked` ' +
            'when the Google account belongs to another user (nothing changes). 401 `google_auth_failed` ' +
            'for any invalid token; 503 `provider_unavailable` when Google sign-in is not configured.',
          security: [{}, { bearerAuth: [] }],
          body: GoogleSignInRequest,
          response: {
            200: SignInResponse,
            401: errorResponse,
            409: errorResponse,
            422: errorResponse,
            429: errorResponse,
            503: errorResponse,
          },
        },
      },
      async (request, reply) => {
        const bearer = request.headers.authorization
          ? await deps.verifier.verify(bearerToken(request))
          : undefined;
        const result = await signInWithGoogle(deps, {
          idToken: request.body.id_token,
          ip: request.ip,
          bearer,
        });
        request.log.info(
          { user_id: result.response.user_id, new_user: result.userCreated, linked: result.linked },
          'google sign-in',
        );
        return reply.header('cache-control', 'no-store').send(result.response);
      },
    );

    app.post(
      '/v1/auth/refresh',
      {
        schema: {
          tags: ['auth'],
          summary: 'Exchange a refresh token for a new token bundle (rotation)',
          description:
            'Refresh tokens are single use: each call returns a new one. The same token presented again ' +
            'within a few seconds (a lost response, two concurrent refreshes) returns the session’s ' +
            'current pair; later, it ends the whole session (401 `invalid_refresh_token`).',
          body: RefreshRequest,
          response: { 200: TokenBundle, 401: errorResponse, 422: errorResponse },
        },
      },
      async (request, reply) =>
        reply.header('cache-control', 'no-store').send(await refreshSession(deps, request.body)),
    );

    app.post(
      '/v1/auth/logout',
      {
        schema: {
          tags: ['auth'],
          summary: 'End the session of a refresh token (idempotent)',
          body: LogoutRequest,
          response: { 204: noContent, 422: errorResponse },
        },
      },
      async (request, reply) => {
        await logOut(deps, request.body);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/v1/auth/logout-all',
      {
        onRequest: requireUser(deps.verifier),
        schema: {
          tags: ['auth'],
          summary: 'End every session of the signed-in user',
          description: 'Access tokens issued before it stop working within seconds everywhere.',
          security: [{ bearerAuth: [] }],
          response: { 204: noContent, 401: errorResponse },
        },
      },
      async (request, reply) => {
        await logOutEverywhere(deps, { userId: request.user.userId });
        request.log.info({ user_id: request.user.userId }, 'logged out everywhere');
        return reply.code(204).send(null);
      },
    );
  });
}
