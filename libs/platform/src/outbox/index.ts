import { eventSchemas, type DomainEvent } from '@offload/contracts';
import { sql } from 'drizzle-orm';
import { index, jsonb, primaryKey, text, timestamp, uuid, type PgSchema } from 'drizzle-orm/pg-core';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { Sql } from 'postgres';
import type { z } from 'zod';
import type { Logger } from '../logger/index.js';
import { publishEvent, type Bus } from '../nats/index.js';
import { SpanKind, contextFromHeaders, currentTraceHeaders, meter, withSpan } from '../telemetry/index.js';

/** The NOTIFY channel of each outbox table, fixed when the table is declared. */
const channels = new WeakMap<object, string>();

/** The outbox table every publishing service declares in its own schema (DESIGN 12). */
export function outboxTable(schema: PgSchema) {
  const table = schema.table(
    'outbox',
    {
      id: uuid('id').primaryKey(),
      type: text('type').notNull(),
      payload: jsonb('payload').notNull(),
      headers: jsonb('headers').$type<Record<string, string>>().notNull(),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
      publishedAt: timestamp('published_at', { withTimezone: true }),
    },
    (t) => [
      index('outbox_unpublished_idx')
        .on(t.createdAt)
        .where(sql`${t.publishedAt} is null`),
      index('outbox_published_at_idx').on(t.publishedAt),
    ],
  );
  channels.set(table, outboxChannel(schema.schemaName));
  return table;
}

/** The inbox table every consuming service declares in its own schema (DESIGN 12). */
export function inboxTable(schema: PgSchema) {
  return schema.table(
    'inbox',
    {
      consumer: text('consumer').notNull(),
      eventId: uuid('event_id').notNull(),
      processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
    },
    (t) => [primaryKey({ columns: [t.consumer, t.eventId] })],
  );
}

type AnyPgDb = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;
type OutboxTable = ReturnType<typeof outboxTable>;
type InboxTable = ReturnType<typeof inboxTable>;

/**
 * The channel that wakes one schema's relays. One per schema: a shared channel would wake every service's
 * relay for every event, each running a transaction to find nothing.
 */
export function outboxChannel(schema: string): string {
  return `offload_outbox_${schema}`;
}

/**
 * Appends events to the outbox, with the active trace context, and wakes the relay: one statement (the
 * insert and the notification, which Postgres delivers only when the transaction commits). Inside the
 * caller's transaction, the events commit with its state change; given the database itself, they are
 * their own transaction of one round trip.
 */
export async function appendToOutbox(tx: AnyPgDb, table: OutboxTable, events: DomainEvent[]): Promise<void> {
  if (events.length === 0) return;
  const headers = currentTraceHeaders();
  const rows = events.map((event) => {
    (eventSchemas[event.type] as z.ZodType).parse(event);
    return { id: event.id, type: event.type, payload: event, headers };
  });
  const channel = channels.get(table)!;
  // Drizzle puts an embedded query in parentheses: `with appended as (insert ...)`.
  await tx.execute(sql`with appended as ${tx.insert(table).values(rows)} select pg_notify(${channel}, '')`);
}

/**
 * Records that `consumer` processed `eventId`, inside the transaction of the effect. Returns false
 * when it was already processed: the caller skips the effect (the transaction still commits cleanly).
 */
export async function claimInbox(
  tx: AnyPgDb,
  table: InboxTable,
  consumer: string,
  eventId: string,
): Promise<boolean> {
  const rows = await tx
    .insert(table)
    .values({ consumer, eventId })
    .onConflictDoNothing()
    .returning({ eventId: table.eventId });
  return rows.length === 1;
}

export interface OutboxRelayOptions {
  sql: Sql;
  schema: string;
  bus: Bus;
  logger: Logger;
  batchSize?: number;
  pollMs?: number;
  retentionDays?: number;
}

export interface OutboxRelay {
  /** Publishes everything pending now; resolves with the number published. */
  flush(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Publishes committed outbox rows to JetStream and marks them sent. Rows are claimed with
 * `FOR UPDATE SKIP LOCKED`, so several relays (replicas) never publish the same row at the same time;
 * a crash between publish and mark re-publishes with the same `Nats-Msg-Id`, which JetStream drops within
 * its duplicate window and consumers' inboxes drop after it. Sent rows are kept `retentionDays` so they
 * can be re-published after a broker loss.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { sql: db, bus, logger } = options;
  const table = `"${options.schema}"."outbox"`;
  const batchSize = options.batchSize ?? 200;
  const pollMs = options.pollMs ?? 1_000;
  let stopped = false;
  let running: Promise<number> | undefined;
  let again = false;
  let failures = 0;

  const relayOnce = async (): Promise<number> => {
    let published = 0;
    for (;;) {
      const count = await db.begin(async (tx) => {
        const rows = await tx.unsafe<{ id: string; payload: DomainEvent; headers: Record<string, string> }[]>(
          `select id, payload, headers from ${table} where published_at is null
           order by created_at, id limit ${batchSize} for update skip locked`,
        );
        if (rows.length === 0) return 0;
        await Promise.all(
          rows.map((row) =>
            withSpan(
              'outbox relay',
              {
                kind: SpanKind.INTERNAL,
                parent: contextFromHeaders(row.headers),
                attributes: { 'messaging.message.id': row.id },
              },
              () => publishEvent(bus, row.payload),
            ),
          ),
        );
        await tx.unsafe(`update ${table} set published_at = now() where id = any($1::uuid[])`, [
          rows.map((r) => r.id),
        ]);
        return rows.length;
      });
      published += count;
      if (count < batchSize) return published;
    }
  };

  const flush = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      do {
        again = false;
        total += await relayOnce();
      } while (again && !stopped);
      return total;
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const tick = async () => {
    if (stopped) return;
    try {
      await flush();
      failures = 0;
    } catch (error) {
      failures++;
      if (failures === 1 || failures % 30 === 0) {
        logger.warn({ error: (error as Error).name, failures }, 'outbox relay could not publish; will retry');
      }
    }
  };

  // Outbox backlog (DESIGN 13): unpublished rows, observed only when a metrics reader collects.
  const backlog = meter().createObservableGauge('outbox.backlog', { description: 'Unpublished outbox rows' });
  const observeBacklog = async (result: {
    observe(value: number, attributes: Record<string, string>): void;
  }) => {
    const rows = await db
      .unsafe<{ n: number }[]>(`select count(*)::int as n from ${table} where published_at is null`)
      .catch(() => undefined);
    if (rows?.[0]) result.observe(rows[0].n, { schema: options.schema });
  };
  backlog.addCallback(observeBacklog);

  const listener = await db.listen(outboxChannel(options.schema), () => void tick()).catch(() => undefined);
  const timer = setInterval(() => void tick(), pollMs);
  const retention = options.retentionDays ?? 7;
  const cleaner = setInterval(
    () =>
      void db
        .unsafe(`delete from ${table} where published_at < now() - make_interval(days => ${retention})`)
        .catch(() => undefined),
    3_600_000,
  );
  void tick();

  return {
    flush,
    async stop() {
      stopped = true;
      backlog.removeCallback(observeBacklog);
      clearInterval(timer);
      clearInterval(cleaner);
      await listener?.unlisten().catch(() => undefined);
      await running?.catch(() => undefined);
    },
  };
}
