import { randomUUID } from 'node:crypto';
import type { Erasure } from '@offload/contracts';
import type { RevocationList } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import { appendToOutbox } from '@offload/platform/outbox';
import type { ErasureRepository } from '../db/erasure-repository.js';
import { outbox, type IdentitySchema } from '../db/schema.js';
import type { SessionRepository } from '../db/session-repository.js';
import type { UserRepository } from '../db/user-repository.js';
import { identityEvent } from '../events/identity-events.js';
import { getErasure } from './get-erasure.js';
import { revokeEverySession } from './log-out-everywhere.js';

export interface EraseCurrentUserDeps {
  database: Database<IdentitySchema>;
  userRepository: UserRepository;
  sessionRepository: SessionRepository;
  erasureRepository: ErasureRepository;
  revocations: Pick<RevocationList, 'add'>;
  /** Services that must confirm (ERASURE_SERVICES). */
  erasureServices: string[];
  /** How long the request waits for every confirmation before answering `pending`. */
  erasureWaitMs: number;
}

const POLL_MS = 100;

/**
 * `DELETE /v1/users/me` (DESIGN 5). In one transaction: the user is marked deleted (no new session,
 * no refresh), every session is revoked (so old access tokens stop working), an erasure record is
 * created and `identity.user.deleted` is queued. Every service in ERASURE_SERVICES (identity included)
 * purges the user's rows and confirms; the call waits up to `erasureWaitMs` for all confirmations and
 * reports `completed` or `pending` (then poll the status by `erasure_id`).
 */
export async function eraseCurrentUser(
  deps: EraseCurrentUserDeps,
  input: { userId: string },
  now: Date = new Date(),
): Promise<Erasure> {
  // A random (v4) id: it is the capability that reads the status, so it must not be guessable.
  const erasureId = randomUUID();
  const revoked = await deps.database.db.transaction(async (tx) => {
    const user = await deps.userRepository.lockById(tx, input.userId);
    if (!user || user.deletedAt !== null) throw new AppError('not_found', 'user not found');
    await deps.userRepository.markDeleted(tx, user.id, now);
    const revoked = await revokeEverySession(deps, tx, { userId: user.id, reason: 'user_deleted', now });
    await deps.erasureRepository.insert(tx, {
      id: erasureId,
      requestedAt: now,
      expectedServices: deps.erasureServices,
    });
    await appendToOutbox(tx, outbox, [
      identityEvent(
        'identity.user.deleted',
        user.id,
        { user_id: user.id, erasure_id: erasureId, requested_at: now.toISOString() },
        now,
      ),
    ]);
    return revoked;
  });
  deps.revocations.add(revoked);

  const deadline = Date.now() + deps.erasureWaitMs;
  for (;;) {
    const status = await getErasure(deps, { erasureId });
    if (status.status === 'completed' || Date.now() >= deadline) return status;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))),
    );
  }
}
