import { newId, type EventOf } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import { appendToOutbox, claimInbox } from '@offload/platform/outbox';
import type { CreditLedgerRepository } from '../db/credit-ledger-repository.js';
import type { UserDataRepository } from '../db/user-data-repository.js';
import { inbox, outbox, type UsageSchema } from '../db/schema.js';
import { KICKSTART_CREDITS } from '../domain/credits.js';

export interface GrantKickstartCreditsDeps {
  database: Database<UsageSchema>;
  creditLedger: CreditLedgerRepository;
  userDataRepository: UserDataRepository;
}

/**
 * `granted`: this call wrote the grant. `duplicate_event`: this consumer processed the event already
 * (inbox). `already_granted`: another event granted this user's kickstart before (unique index).
 * `user_erased`: the user's account was erased before the creation event arrived; nothing is written.
 */
export type KickstartOutcome = 'granted' | 'duplicate_event' | 'already_granted' | 'user_erased';

/**
 * Grants the kickstart credits for a new user, exactly once: the inbox claim, the ledger row and the
 * `usage.credits.granted` event commit in one transaction, or none of them does.
 */
export async function grantKickstartCredits(
  deps: GrantKickstartCreditsDeps,
  input: { consumer: string; eventId: string; userId: string },
): Promise<KickstartOutcome> {
  return deps.database.db.transaction(async (tx) => {
    if (!(await claimInbox(tx, inbox, input.consumer, input.eventId))) return 'duplicate_event';
    // Under the user's lock, against the purge: either the grant commits first and the purge deletes it,
    // or the purge did and the grant sees its mark.
    await deps.userDataRepository.lockUser(tx, input.userId);
    if (await deps.userDataRepository.isErased(tx, input.userId)) return 'user_erased';
    const now = new Date();
    const written = await deps.creditLedger.appendOnce(tx, {
      id: newId(),
      userId: input.userId,
      kind: 'kickstart',
      amount: KICKSTART_CREDITS,
      reason: 'kickstart',
      sourceEventId: input.eventId,
      expiresAt: null,
      createdAt: now,
    });
    if (!written) return 'already_granted';
    const event: EventOf<'usage.credits.granted'> = {
      id: newId(),
      type: 'usage.credits.granted',
      source: 'usage',
      time: now.toISOString(),
      subject: input.userId,
      data: { user_id: input.userId, kind: 'kickstart', amount: KICKSTART_CREDITS, reason: 'kickstart' },
    };
    await appendToOutbox(tx, outbox, [event]);
    return 'granted';
  });
}
