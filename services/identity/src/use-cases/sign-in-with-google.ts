import { newId, type SignInResponse } from '@offload/contracts';
import type { AuthUser } from '@offload/platform/auth';
import type { Database, Tx } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import type { Logger } from '@offload/platform/logger';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type IdentitySchema } from '../db/schema.js';
import type { SessionRepository } from '../db/session-repository.js';
import type { UserRepository } from '../db/user-repository.js';
import type { SessionPolicy } from '../domain/session.js';
import { toUserProfile, type UserRecord } from '../domain/user.js';
import { identityEvent } from '../events/identity-events.js';
import type { AccessTokenIssuer } from '../security/access-tokens.js';
import {
  GoogleKeysUnavailable,
  GoogleTokenRejected,
  type GoogleIdentity,
  type GoogleIdTokenVerifier,
} from '../security/google-id-tokens.js';
import type { SessionRateLimiter } from '../security/session-rate-limiter.js';
import { issueTokenBundle, startSession } from './start-session.js';

export interface SignInWithGoogleDeps {
  database: Database<IdentitySchema>;
  userRepository: UserRepository;
  sessionRepository: SessionRepository;
  accessTokens: AccessTokenIssuer;
  sessionPolicy: SessionPolicy;
  sessionRateLimiter: SessionRateLimiter;
  google: GoogleIdTokenVerifier;
  logger: Logger;
}

export interface SignInWithGoogleInput {
  idToken: string;
  ip: string;
  /** The caller's own access token, when it sent one: an anonymous user then links (keeps its id). */
  bearer: AuthUser | undefined;
}

export interface SignInResult {
  response: SignInResponse;
  userCreated: boolean;
  linked: boolean;
}

/** Thrown inside the transaction so it rolls back completely; mapped to 409 outside it. */
class AlreadyLinked extends Error {}
/** Thrown inside the savepoint to undo our user when a concurrent first sign-in created it first. */
class CreatedConcurrently extends Error {}

const alreadyLinked = () =>
  new AppError('identity_already_linked', 'this Google account is already linked to another user');

/**
 * `POST /v1/auth/google` (DESIGN 5). Verifies the Google ID token, then:
 * - with the bearer token of an anonymous user, links: the same user id becomes a Google user, so every
 *   task, note and credit stays (`identity.user.linked`). When the Google account already belongs to
 *   another user: 409 `identity_already_linked` and nothing changes (no silent merge);
 * - otherwise signs in the Google account's user, creating it on the first sign-in.
 * Either way a new session starts; a linked device's session stays bound to its install id.
 */
export async function signInWithGoogle(
  deps: SignInWithGoogleDeps,
  input: SignInWithGoogleInput,
): Promise<SignInResult> {
  if (!deps.google.configured) {
    throw new AppError('provider_unavailable', 'Google sign-in is not configured on this server');
  }
  await deps.sessionRateLimiter.check({ ip: input.ip });
  const google = await verifyGoogleToken(deps, input.idToken);
  const now = new Date();

  let result: { user: UserRecord; userCreated: boolean; linked: boolean; installId: string | undefined };
  let session: Awaited<ReturnType<typeof startSession>>;
  try {
    ({ result, session } = await deps.database.db.transaction(async (tx) => {
      const result = await resolveUser(deps, tx, google, input.bearer, now);
      const session = await startSession(deps, tx, {
        userId: result.user.id,
        installId: result.installId,
        now,
      });
      return { result, session };
    }));
  } catch (error) {
    if (error instanceof AlreadyLinked) throw alreadyLinked();
    throw error;
  }

  const bundle = await issueTokenBundle(deps, { user: result.user, session, now });
  return {
    response: { ...bundle, user: toUserProfile(result.user) },
    userCreated: result.userCreated,
    linked: result.linked,
  };
}

async function verifyGoogleToken(deps: SignInWithGoogleDeps, idToken: string): Promise<GoogleIdentity> {
  try {
    return await deps.google.verify(idToken);
  } catch (error) {
    if (error instanceof GoogleTokenRejected) {
      // The reason goes to the log only; never the token, never the email.
      deps.logger.info({ reason: error.reason }, 'google id token rejected');
      throw new AppError('google_auth_failed', 'the Google sign-in could not be verified');
    }
    if (error instanceof GoogleKeysUnavailable) {
      deps.logger.warn({ error: 'google_jwks_unavailable' }, 'google signing keys unavailable');
      throw new AppError('provider_unavailable', 'Google sign-in is unavailable right now; try again later', {
        cause: error,
      });
    }
    throw error;
  }
}

async function resolveUser(
  deps: SignInWithGoogleDeps,
  tx: Tx<IdentitySchema>,
  google: GoogleIdentity,
  bearer: AuthUser | undefined,
  now: Date,
): Promise<{ user: UserRecord; userCreated: boolean; linked: boolean; installId: string | undefined }> {
  const email = google.email ?? null;
  const existing = await deps.userRepository.lockGoogleIdentity(tx, google.sub);

  if (bearer) {
    const caller = await deps.userRepository.lockById(tx, bearer.userId);
    if (!caller || caller.deletedAt !== null)
      throw new AppError('unauthorized', 'this account no longer exists');
    if (caller.anonymous) {
      if (existing) throw new AlreadyLinked();
      if (
        !(await deps.userRepository.insertGoogleIdentityIfAbsent(tx, {
          sub: google.sub,
          userId: caller.id,
          email,
          at: now,
        }))
      ) {
        throw new AlreadyLinked();
      }
      const user = await deps.userRepository.markLinked(tx, caller.id);
      await appendToOutbox(tx, outbox, [
        identityEvent(
          'identity.user.linked',
          user.id,
          { user_id: user.id, provider: 'google', linked_at: now.toISOString() },
          now,
        ),
      ]);
      // The device that linked keeps a device-bound session (its meters and `did` stay).
      return { user, userCreated: false, linked: true, installId: bearer.installId };
    }
    // A signed-in caller is not linking anything: this is an ordinary sign-in below.
  }

  if (existing) {
    const user = await deps.userRepository.lockById(tx, existing.userId);
    if (!user || user.deletedAt !== null) throw new AppError('unauthorized', 'this account no longer exists');
    await deps.userRepository.touchGoogleIdentity(tx, { sub: google.sub, email, at: now });
    return { user, userCreated: false, linked: false, installId: undefined };
  }

  const created = await createGoogleUser(deps, tx, google.sub, email, now);
  if (created) return { user: created, userCreated: true, linked: false, installId: undefined };
  // A concurrent first sign-in of the same Google account won: use its user.
  const winner = await deps.userRepository.lockGoogleIdentity(tx, google.sub);
  const user = winner && (await deps.userRepository.lockById(tx, winner.userId));
  if (!user || user.deletedAt !== null) throw new AppError('unauthorized', 'this account no longer exists');
  return { user, userCreated: false, linked: false, installId: undefined };
}

async function createGoogleUser(
  deps: SignInWithGoogleDeps,
  tx: Tx<IdentitySchema>,
  sub: string,
  email: string | null,
  now: Date,
): Promise<UserRecord | undefined> {
  try {
    return await tx.transaction(async (savepoint) => {
      const user = await deps.userRepository.insertUser(savepoint, {
        id: newId(),
        anonymous: false,
        tier: 'free',
        createdAt: now,
      });
      if (
        !(await deps.userRepository.insertGoogleIdentityIfAbsent(savepoint, {
          sub,
          userId: user.id,
          email,
          at: now,
        }))
      ) {
        throw new CreatedConcurrently();
      }
      await appendToOutbox(savepoint, outbox, [
        identityEvent(
          'identity.user.created',
          user.id,
          { user_id: user.id, anonymous: false, tier: user.tier },
          now,
        ),
      ]);
      return user;
    });
  } catch (error) {
    if (error instanceof CreatedConcurrently) return undefined;
    throw error;
  }
}
