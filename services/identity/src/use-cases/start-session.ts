import { newId, type TokenBundle } from '@offload/contracts';
import type { Tx } from '@offload/platform/db';
import type { IdentitySchema } from '../db/schema.js';
import type { SessionRepository } from '../db/session-repository.js';
import { sessionExpiries, type SessionPolicy } from '../domain/session.js';
import type { AccessTokenIssuer } from '../security/access-tokens.js';
import { newRefreshToken, sha256Hex } from '../security/hashing.js';
import { sealWithToken } from '../security/token-sealing.js';

export interface StartedSession {
  sessionId: string;
  refreshToken: string;
  installId: string | undefined;
}

/**
 * Starts a session (refresh-token family) inside the caller's transaction. A device-bound session
 * stores its install id only as a hash plus a copy sealed with the refresh token (for the `did` claim
 * of later refreshes).
 */
export async function startSession(
  deps: { sessionRepository: SessionRepository; sessionPolicy: SessionPolicy },
  tx: Tx<IdentitySchema>,
  input: { userId: string; installId: string | undefined; now: Date },
): Promise<StartedSession> {
  const sessionId = newId();
  const refreshToken = newRefreshToken();
  const expiries = sessionExpiries(input.now, deps.sessionPolicy);
  await deps.sessionRepository.insert(tx, {
    id: sessionId,
    userId: input.userId,
    installIdHash: input.installId === undefined ? null : sha256Hex(input.installId),
    startedAt: input.now,
    absoluteExpiresAt: expiries.absoluteExpiresAt,
    refreshTokenHash: sha256Hex(refreshToken),
    refreshExpiresAt: expiries.refreshExpiresAt,
    installIdSealed:
      input.installId === undefined ? null : sealWithToken(refreshToken, 'install-id', input.installId),
  });
  return { sessionId, refreshToken, installId: input.installId };
}

/** Signs the access token for a committed session and returns the bundle the client keeps. */
export async function issueTokenBundle(
  deps: { accessTokens: AccessTokenIssuer },
  input: {
    user: { id: string; tier: 'free' | 'pro'; anonymous: boolean };
    session: StartedSession;
    now: Date;
  },
): Promise<TokenBundle> {
  const access = await deps.accessTokens.issue(
    {
      userId: input.user.id,
      sessionId: input.session.sessionId,
      installId: input.session.installId,
      tier: input.user.tier,
      anonymous: input.user.anonymous,
    },
    input.now,
  );
  return {
    session_token: access.token,
    expires_at: access.expiresAt.toISOString(),
    refresh_token: input.session.refreshToken,
    user_id: input.user.id,
    token_type: 'Bearer',
  };
}
