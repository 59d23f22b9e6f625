import { newId, type AnonymousSessionRequest, type EventOf, type TokenBundle } from '@offload/contracts';
import type { Database, Tx } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type IdentitySchema } from '../db/schema.js';
import type { SessionRepository } from '../db/session-repository.js';
import type { UserRepository } from '../db/user-repository.js';
import { decideAnonymousResume, type SessionPolicy } from '../domain/session.js';
import type { UserRecord } from '../domain/user.js';
import type { AccessTokenIssuer } from '../security/access-tokens.js';
import { sha256Hex } from '../security/hashing.js';
import type { SessionRateLimiter } from '../security/session-rate-limiter.js';
import { issueTokenBundle, startSession } from './start-session.js';

export interface CreateAnonymousSessionDeps {
  database: Database<IdentitySchema>;
  userRepository: UserRepository;
  sessionRepository: SessionRepository;
  accessTokens: AccessTokenIssuer;
  sessionPolicy: SessionPolicy;
  sessionRateLimiter: SessionRateLimiter;
}

export interface AnonymousSessionResult {
  bundle: TokenBundle;
  /** True when this call created the user (the first call for the install id). */
  userCreated: boolean;
}

/** Thrown inside the savepoint to undo our user when a concurrent call bound the install id first. */
class InstallIdBoundConcurrently extends Error {}

/**
 * `POST /v1/sessions/anonymous` (DESIGN 5). The first call for an install id creates an anonymous user,
 * binds the install id (stored only as its SHA-256) and appends `identity.user.created` to the outbox,
 * all in one transaction; every call starts a new session (refresh-token family). Concurrent first calls
 * for one install id meet at the devices table's unique key: one binds it, the others roll their user
 * back to a savepoint and use the winner's. Issuance is rate limited per client IP and per install id.
 */
export async function createAnonymousSession(
  deps: CreateAnonymousSessionDeps,
  input: AnonymousSessionRequest & { ip: string },
): Promise<AnonymousSessionResult> {
  await deps.sessionRateLimiter.check({ ip: input.ip, installId: input.install_id });
  const now = new Date();
  const installIdHash = sha256Hex(input.install_id);
  const device = { installIdHash, platform: input.platform, appVersion: input.app_version, seenAt: now };

  const { user, userCreated, session } = await deps.database.db.transaction(async (tx) => {
    let found = await deps.userRepository.touchDevice(tx, device);
    let userCreated = false;
    if (!found) {
      found = await createUserForDevice(deps, tx, device, now);
      userCreated = found !== undefined;
      found ??= await deps.userRepository.touchDevice(tx, device);
      if (!found) throw new Error('install id binding vanished inside its transaction');
    }
    const decision = decideAnonymousResume(found);
    if (!decision.allowed) {
      throw decision.reason === 'linked'
        ? new AppError(
            'identity_already_linked',
            'this install id belongs to a signed-in account: refresh the session or sign in again',
          )
        : new AppError('unauthorized', 'this account no longer exists');
    }
    const session = await startSession(deps, tx, { userId: found.id, installId: input.install_id, now });
    return { user: found, userCreated, session };
  });

  // Signed only after the commit: no token ever names a session that could still roll back.
  return { bundle: await issueTokenBundle(deps, { user, session, now }), userCreated };
}

/** Creates the user, binds the device and records the event; undefined when the install id was taken. */
async function createUserForDevice(
  deps: CreateAnonymousSessionDeps,
  tx: Tx<IdentitySchema>,
  device: { installIdHash: string; platform: string; appVersion: string; seenAt: Date },
  now: Date,
): Promise<UserRecord | undefined> {
  try {
    return await tx.transaction(async (savepoint) => {
      const user = await deps.userRepository.insertUser(savepoint, {
        id: newId(),
        anonymous: true,
        tier: 'free',
        createdAt: now,
      });
      const bound = await deps.userRepository.insertDeviceIfAbsent(savepoint, {
        installIdHash: device.installIdHash,
        userId: user.id,
        platform: device.platform,
        appVersion: device.appVersion,
        createdAt: now,
        lastSeenAt: now,
      });
      if (!bound) throw new InstallIdBoundConcurrently();
      const event: EventOf<'identity.user.created'> = {
        id: newId(),
        type: 'identity.user.created',
        source: 'identity',
        time: now.toISOString(),
        subject: user.id,
        data: { user_id: user.id, anonymous: user.anonymous, tier: user.tier },
      };
      await appendToOutbox(savepoint, outbox, [event]);
      return user;
    });
  } catch (error) {
    if (error instanceof InstallIdBoundConcurrently) return undefined;
    throw error;
  }
}
