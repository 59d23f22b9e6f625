import { newId, type EventOf } from '@offload/contracts';
import { createTestInfra, eventually, LogCapture, type TestInfra } from '@offload/testing';
import { sql } from 'drizzle-orm';
import { pgSchema } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/index.js';
import { createLogger } from '../src/logger/index.js';
import { connectBus, ensureStreams, startConsumer, type Bus } from '../src/nats/index.js';
import {
  appendToOutbox,
  claimInbox,
  inboxTable,
  outboxTable,
  startOutboxRelay,
} from '../src/outbox/index.js';

const schema = pgSchema('messaging_test');
const outbox = outboxTable(schema);
const inbox = inboxTable(schema);

let infra: TestInfra;
let bus: Bus;
const logs = new LogCapture();
const logger = createLogger({ service: 'test', destination: logs });

beforeAll(async () => {
  infra = await createTestInfra();
  const boot = createDatabase({ url: infra.databaseUrl, schema: 'messaging_test' }, {});
  await boot.sql.unsafe(`
    create schema messaging_test;
    create table messaging_test.outbox (id uuid primary key, type text not null, payload jsonb not null,
      headers jsonb not null, created_at timestamptz not null default now(), published_at timestamptz);
    create table messaging_test.inbox (consumer text not null, event_id uuid not null,
      processed_at timestamptz not null default now(), primary key (consumer, event_id));
    create table messaging_test.effects (event_id uuid not null);
  `);
  await boot.close();
  bus = await connectBus({ url: infra.natsUrl, name: 'test', prefix: infra.natsPrefix, logger });
  await ensureStreams(bus, ['TASKS']);
});

afterAll(async () => {
  await bus?.close();
  await infra?.cleanup();
});

const taskCreated = (): EventOf<'tasks.task.created'> => {
  const userId = newId();
  return {
    id: newId(),
    type: 'tasks.task.created',
    source: 'tasks',
    time: new Date().toISOString(),
    subject: userId,
    data: { task_id: newId(), user_id: userId, priority: 'high', has_due_date: false, source: 'user' },
  };
};

describe('outbox relay and inbox consumer', () => {
  it('sends a message that keeps failing to the dead-letter subject after max_deliver, and garbage at once', async () => {
    const database = createDatabase({ url: infra.databaseUrl, schema: 'messaging_test' }, { outbox, inbox });
    let attempts = 0;
    const consumer = await startConsumer(bus, {
      stream: 'TASKS',
      durable: 'test__always_fails',
      types: ['tasks.task.created'],
      logger,
      maxDeliver: 3,
      backoffMs: [50],
      handler: async () => {
        attempts++;
        throw Object.assign(new Error('boom'), { code: 'downstream_broken' });
      },
    });
    const dead: Array<{ reason: string; deliveries: string }> = [];
    const sub = bus.nc.subscribe(bus.subject('dlq.test__always_fails'));
    void (async () => {
      for await (const m of sub) {
        dead.push({
          reason: m.headers?.get('Offload-Dead-Letter-Reason') ?? '',
          deliveries: m.headers?.get('Offload-Deliveries') ?? '',
        });
      }
    })();
    const poison = taskCreated();
    await bus.js.publish(bus.subject('tasks.task.created'), JSON.stringify(poison), { msgID: poison.id });
    await bus.js.publish(
      bus.subject('tasks.task.created'),
      '{"type":"tasks.task.created","id":"not-a-uuid"}',
    );
    await eventually(async () => dead.length === 2, 10_000);
    expect(attempts).toBe(3);
    expect(dead).toEqual(
      expect.arrayContaining([
        { reason: 'downstream_broken', deliveries: '3' },
        { reason: 'invalid_event', deliveries: '1' },
      ]),
    );
    // The dead letters are kept in the DLQ stream for operators.
    const info = await bus.jsm.streams.info(bus.stream('DLQ'));
    expect(info.state.messages).toBeGreaterThanOrEqual(2);
    sub.unsubscribe();
    await consumer.stop();
    await database.close();
  });

  it('delivers committed events once each, even when relayed twice', async () => {
    const database = createDatabase({ url: infra.databaseUrl, schema: 'messaging_test' }, { outbox, inbox });
    const events = Array.from({ length: 20 }, taskCreated);
    await database.db.transaction(async (tx) => appendToOutbox(tx, outbox, events));
    // A rolled-back transaction publishes nothing.
    await database.db
      .transaction(async (tx) => {
        await appendToOutbox(tx, outbox, [taskCreated()]);
        throw new Error('rollback');
      })
      .catch(() => undefined);

    const seen: string[] = [];
    const consumer = await startConsumer(bus, {
      stream: 'TASKS',
      durable: 'test__effects',
      types: ['tasks.task.created'],
      logger,
      handler: async (event) => {
        await database.db.transaction(async (tx) => {
          if (!(await claimInbox(tx, inbox, 'test__effects', event.id))) return;
          await tx.execute(sql`insert into messaging_test.effects (event_id) values (${event.id})`);
          seen.push(event.id);
        });
      },
    });
    const relayA = await startOutboxRelay({ sql: database.sql, schema: 'messaging_test', bus, logger });
    const relayB = await startOutboxRelay({ sql: database.sql, schema: 'messaging_test', bus, logger });
    await Promise.all([relayA.flush(), relayB.flush()]);
    // Simulate a relay that crashed after publishing but before marking: publish everything again.
    await database.sql.unsafe(`update messaging_test.outbox set published_at = null`);
    await relayA.flush();

    const ours = new Set(events.map((e) => e.id));
    await eventually(async () => seen.filter((id) => ours.has(id)).length >= 20, 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const [row] = await database.sql.unsafe<{ count: string }[]>(
      `select count(*)::text as count from messaging_test.effects where event_id = any($1::uuid[])`,
      [[...ours]],
    );
    expect(Number(row?.count)).toBe(20);
    expect(new Set(seen.filter((id) => ours.has(id)))).toEqual(ours);
    await relayA.stop();
    await relayB.stop();
    await consumer.stop();
    await database.close();
  });
});
