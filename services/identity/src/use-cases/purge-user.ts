import type { Database } from '@offload/platform/db';
import type { Logger } from '@offload/platform/logger';
import { appendToOutbox, claimInbox } from '@offload/platform/outbox';
import type { ErasureRepository } from '../db/erasure-repository.js';
import { inbox, outbox, type IdentitySchema } from '../db/schema.js';
import type { UserRepository } from '../db/user-repository.js';
import { identityEvent } from '../events/identity-events.js';
import { recordErasureConfirmationIn } from './record-erasure-confirmation.js';

export interface PurgeUserDeps {
  database: Database<IdentitySchema>;
  userRepository: UserRepository;
  erasureRepository: ErasureRepository;
  logger: Logger;
}

/**
 * Identity's own part of an erasure, on `identity.user.deleted` (exactly once through the inbox): deletes
 * the user's identity rows, records identity's confirmation and publishes `identity.user.purged`, all in
 * one transaction. A user that exists but was never marked deleted is left alone (an event is not
 * enough to erase a live account).
 */
export async function purgeUser(
  deps: PurgeUserDeps,
  input: { consumer: string; eventId: string; userId: string; erasureId: string },
  now: Date = new Date(),
): Promise<void> {
  await deps.database.db.transaction(async (tx) => {
    if (!(await claimInbox(tx, inbox, input.consumer, input.eventId))) return;
    const user = await deps.userRepository.lockById(tx, input.userId);
    if (user && user.deletedAt === null) {
      deps.logger.error({ user_id: input.userId }, 'erasure event for a user not marked deleted; ignored');
      return;
    }
    const erased = await deps.userRepository.purge(tx, input.userId);
    await recordErasureConfirmationIn(deps, tx, {
      erasureId: input.erasureId,
      confirmation: { service: 'identity', purgedAt: now, erased },
      now,
    });
    await appendToOutbox(tx, outbox, [
      identityEvent(
        'identity.user.purged',
        input.userId,
        {
          user_id: input.userId,
          erasure_id: input.erasureId,
          service: 'identity',
          purged_at: now.toISOString(),
          erased,
        },
        now,
      ),
    ]);
  });
}
