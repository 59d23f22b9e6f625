import { newId, USER_PURGED_EVENT, type ErasureService, type EventOf } from '@offload/contracts';
import type { Database, Tx } from '../db/index.js';
import type { Logger } from '../logger/index.js';
import { startConsumer, type Bus, type RunningConsumer } from '../nats/index.js';
import { appendToOutbox, claimInbox, type inboxTable, type outboxTable } from '../outbox/index.js';

/**
 * One service's part of an account erasure (DESIGN 5): where it keeps its rows and how it deletes them.
 * Everything else (the inbox claim, the confirmation, the consumer and its retries) is the same in every
 * service and lives here.
 */
export interface UserErasure<TSchema extends Record<string, unknown>> {
  /** The confirming service: `<service>.user.purged`, its `source` and `data.service`. */
  service: ErasureService;
  database: Database<TSchema>;
  inbox: ReturnType<typeof inboxTable>;
  outbox: ReturnType<typeof outboxTable>;
  /**
   * Deletes every row of `userId` inside the caller's transaction and counts them per table (ids and
   * counts only: the counts travel in the confirmation).
   */
  purge: (tx: Tx<TSchema>, userId: string) => Promise<Record<string, number>>;
}

export interface UserPurgeInput {
  /** The inbox consumer name (the durable). */
  consumer: string;
  eventId: string;
  userId: string;
  erasureId: string;
}

/** `purged`: this call erased the user's rows. `duplicate_event`: the event was handled before (inbox). */
export type PurgeOutcome =
  { outcome: 'purged'; erased: Record<string, number> } | { outcome: 'duplicate_event' };

/**
 * A service's part of an account erasure, on `identity.user.deleted`. In one transaction: the inbox
 * claim, the deletion of every row of the user and the `<service>.user.purged` confirmation identity waits
 * for. A redelivered event is claimed already and changes nothing; another event for the same user
 * deletes nothing and confirms again (identity ignores repeated confirmations).
 */
export async function purgeUserData<TSchema extends Record<string, unknown>>(
  erasure: UserErasure<TSchema>,
  input: UserPurgeInput,
  now: Date = new Date(),
): Promise<PurgeOutcome> {
  return erasure.database.db.transaction(async (tx) => {
    if (!(await claimInbox(tx, erasure.inbox, input.consumer, input.eventId)))
      return { outcome: 'duplicate_event' };
    const erased = await erasure.purge(tx, input.userId);
    const confirmation: EventOf<(typeof USER_PURGED_EVENT)[ErasureService]> = {
      id: newId(),
      type: USER_PURGED_EVENT[erasure.service],
      source: erasure.service,
      time: now.toISOString(),
      subject: input.userId,
      data: {
        user_id: input.userId,
        erasure_id: input.erasureId,
        service: erasure.service,
        purged_at: now.toISOString(),
        erased,
      },
    };
    await appendToOutbox(tx, erasure.outbox, [confirmation]);
    return { outcome: 'purged', erased };
  });
}

/**
 * An erasure must not end in the dead-letter stream because the database was away for a minute: retries
 * back off to 5 minutes and go on for about 4 hours before an operator has to step in.
 */
const USER_PURGE_RETRY = { maxDeliver: 50, backoffMs: [1_000, 5_000, 30_000, 120_000, 300_000] };

/** The durable consumer (and inbox consumer name) of a service's purge: `<service>__user_purge`. */
export const userPurgeConsumerName = (service: ErasureService) => `${service}__user_purge`;

export interface UserPurgeConsumerOptions<
  TSchema extends Record<string, unknown>,
> extends UserErasure<TSchema> {
  bus: Bus;
  logger: Logger;
  ackWaitMs?: number;
}

/**
 * The service's part of every erasure: on `identity.user.deleted` it purges the user's rows and confirms
 * with `<service>.user.purged`, which identity waits for (see `purgeUserData`). The durable is
 * `userPurgeConsumerName(service)`; failures are retried with `USER_PURGE_RETRY`.
 */
export function startUserPurgeConsumer<TSchema extends Record<string, unknown>>(
  options: UserPurgeConsumerOptions<TSchema>,
): Promise<RunningConsumer> {
  const { bus, logger, ackWaitMs } = options;
  const durable = userPurgeConsumerName(options.service);
  return startConsumer(bus, {
    stream: 'IDENTITY',
    durable,
    types: ['identity.user.deleted'],
    logger,
    ...USER_PURGE_RETRY,
    ...(ackWaitMs ? { ackWaitMs } : {}),
    handler: async (event: EventOf<'identity.user.deleted'>, meta) => {
      const result = await purgeUserData(options, {
        consumer: durable,
        eventId: event.id,
        userId: event.data.user_id,
        erasureId: event.data.erasure_id,
      });
      logger.info(
        {
          durable,
          event_id: event.id,
          erasure_id: event.data.erasure_id,
          delivery: meta.deliveryCount,
          ...result,
        },
        'user purge handled',
      );
    },
  });
}
