import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, type AccessTokenClaims } from '@offload/contracts';

export interface SessionPolicy {
  accessTokenTtlSeconds: number;
  refreshIdleDays: number;
  refreshAbsoluteDays: number;
}

export interface SessionExpiries {
  /** When the session (refresh-token family) ends, however often it is used. */
  absoluteExpiresAt: Date;
  /** When a refresh token issued now expires if unused: idle lifetime, capped by the absolute one. */
  refreshExpiresAt: Date;
}

const DAY_MS = 86_400_000;

export function sessionExpiries(now: Date, policy: SessionPolicy, startedAt: Date = now): SessionExpiries {
  const absoluteExpiresAt = new Date(startedAt.getTime() + policy.refreshAbsoluteDays * DAY_MS);
  const idle = now.getTime() + policy.refreshIdleDays * DAY_MS;
  return { absoluteExpiresAt, refreshExpiresAt: new Date(Math.min(idle, absoluteExpiresAt.getTime())) };
}

export interface AccessTokenSubject {
  userId: string;
  sessionId: string;
  /** The install id the session is bound to, as the client knows it; absent for unbound sessions. */
  installId: string | undefined;
  tier: 'free' | 'pro';
  anonymous: boolean;
}

/**
 * The claims of an access token, exactly as DESIGN 5 lists them: `iss`, `aud`, `sub`, `sid`, `did` (when
 * device-bound), `tier`, `anon`, `iat`, `exp`, `jti`. Times are whole seconds.
 */
export function accessTokenClaims(
  subject: AccessTokenSubject,
  options: { now: Date; ttlSeconds: number; jti: string },
): AccessTokenClaims {
  const iat = Math.floor(options.now.getTime() / 1000);
  return {
    iss: ACCESS_TOKEN_ISSUER,
    aud: ACCESS_TOKEN_AUDIENCE,
    sub: subject.userId,
    sid: subject.sessionId,
    ...(subject.installId === undefined ? {} : { did: subject.installId }),
    tier: subject.tier,
    anon: subject.anonymous,
    iat,
    exp: iat + options.ttlSeconds,
    jti: options.jti,
  };
}

/** What the install id's user allows when an anonymous session is asked for again. */
export type AnonymousResumeDecision = { allowed: true } | { allowed: false; reason: 'linked' | 'deleted' };

/**
 * An install id gives anonymous sessions for its user only while that user is anonymous and not
 * erased: once the user linked a Google identity, an anonymous session must not grant access to the
 * linked account (DESIGN 5); the client refreshes or signs in instead.
 */
export function decideAnonymousResume(user: {
  anonymous: boolean;
  deletedAt: Date | null;
}): AnonymousResumeDecision {
  if (user.deletedAt !== null) return { allowed: false, reason: 'deleted' };
  if (!user.anonymous) return { allowed: false, reason: 'linked' };
  return { allowed: true };
}

/** What the stored state of a presented refresh token and its session allows (ADR 0009). */
export type RefreshDecision =
  /** The family's current token: rotate it (single use). */
  | { kind: 'rotate' }
  /** Already used, within the grace window: answer with the family's current pair again. */
  | { kind: 'replay' }
  /** Already used, after the grace window: a stolen or replayed token; revoke the whole family. */
  | { kind: 'reuse' }
  | { kind: 'reject'; reason: 'revoked' | 'idle_expired' | 'absolute_expired' };

export function decideRefresh(
  token: { usedAt: Date | null; expiresAt: Date },
  session: { revokedAt: Date | null; absoluteExpiresAt: Date },
  now: Date,
  graceSeconds: number,
): RefreshDecision {
  if (session.revokedAt !== null) return { kind: 'reject', reason: 'revoked' };
  if (session.absoluteExpiresAt.getTime() <= now.getTime())
    return { kind: 'reject', reason: 'absolute_expired' };
  if (token.usedAt !== null) {
    return now.getTime() - token.usedAt.getTime() <= graceSeconds * 1000
      ? { kind: 'replay' }
      : { kind: 'reuse' };
  }
  if (token.expiresAt.getTime() <= now.getTime()) return { kind: 'reject', reason: 'idle_expired' };
  return { kind: 'rotate' };
}
