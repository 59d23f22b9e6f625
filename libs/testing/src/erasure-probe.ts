import {
  newId,
  USER_PURGED_EVENT,
  type ErasureService,
  type EventOf,
  type StreamName,
} from '@offload/contracts';
import { createLogger } from '@offload/platform/logger';
import { publishEvent, startConsumer, type Bus } from '@offload/platform/nats';
import type { Sql } from 'postgres';
import { eventually } from './wait.js';

type PurgedType = (typeof USER_PURGED_EVENT)[ErasureService];
export type UserPurgedEvent = EventOf<PurgedType>;

export interface ErasureProbe {
  /** Publishes `identity.user.deleted` for `userId` as identity does; returns the event. */
  requestErasure(userId: string, options?: { erasureId?: string }): Promise<EventOf<'identity.user.deleted'>>;
  /** Every confirmation received so far for an erasure, in arrival order. */
  confirmations(erasureId: string): UserPurgedEvent[];
  /** Waits for the first confirmation of an erasure. */
  confirmation(erasureId: string, timeoutMs?: number): Promise<UserPurgedEvent>;
  stop(): Promise<void>;
}

/**
 * Plays identity's side of an account erasure (DESIGN 5) against one service under test: publishes
 * `identity.user.deleted` on the IDENTITY stream and collects the service's `<service>.user.purged`
 * confirmations from its own stream through a durable consumer of the probe's own. The streams must
 * exist (the service under test creates them).
 */
export async function startErasureProbe(bus: Bus, service: ErasureService): Promise<ErasureProbe> {
  const type = USER_PURGED_EVENT[service];
  const received: UserPurgedEvent[] = [];
  const consumer = await startConsumer(bus, {
    stream: service.toUpperCase() as StreamName,
    durable: `test__${service}_purge_confirmations`,
    types: [type],
    logger: createLogger({ service: 'erasure-probe', level: 'silent' }),
    handler: async (event: UserPurgedEvent) => {
      received.push(event);
    },
  });
  const confirmations = (erasureId: string) => received.filter((e) => e.data.erasure_id === erasureId);
  return {
    async requestErasure(userId, options = {}) {
      const now = new Date().toISOString();
      const event: EventOf<'identity.user.deleted'> = {
        id: newId(),
        type: 'identity.user.deleted',
        source: 'identity',
        time: now,
        subject: userId,
        data: { user_id: userId, erasure_id: options.erasureId ?? newId(), requested_at: now },
      };
      await publishEvent(bus, event);
      return event;
    },
    confirmations,
    confirmation: (erasureId, timeoutMs = 10_000) =>
      eventually(async () => confirmations(erasureId)[0], timeoutMs),
    stop: () => consumer.stop(),
  };
}

/**
 * The tables of `schema` that hold user ids (a column named `user_id` or `subject`), sorted, without the
 * outbox (its rows are kept for re-publication and pruned after 7 days): what an erasure must empty.
 */
export async function userTablesOf(sql: Sql, schema: string): Promise<string[]> {
  const rows = await sql<{ table_name: string }[]>`
    select distinct c.table_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = ${schema} and c.column_name in ('user_id', 'subject')
      and t.table_type = 'BASE TABLE' and c.table_name <> 'outbox'
    order by c.table_name`;
  return rows.map((r) => r.table_name);
}
