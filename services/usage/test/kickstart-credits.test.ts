import { newId, UsageCreditsGranted } from '@offload/contracts';
import { publishEvent } from '@offload/platform/nats';
import { buildTestApp, eventually, type TestApp } from '@offload/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditLedger, inbox, outbox } from '../src/db/schema.js';
import type { UsageRuntime } from '../src/deps.js';
import { KICKSTART_CONSUMER } from '../src/events/consumers/user-created.js';
import { grantKickstartCredits } from '../src/use-cases/grant-kickstart-credits.js';
import { usageService, userCreated } from './support.js';

let t: TestApp<UsageRuntime>;

beforeAll(async () => {
  t = await buildTestApp(usageService);
});

afterAll(async () => {
  await t?.close();
});

const ledgerOf = (userId: string) =>
  t.runtime.database.db.select().from(creditLedger).where(eq(creditLedger.userId, userId));
const inboxOf = (eventId: string) =>
  t.runtime.database.db.select().from(inbox).where(eq(inbox.eventId, eventId));
const grantEventsOf = async (userId: string) =>
  (await t.runtime.database.db.select().from(outbox).where(eq(outbox.type, 'usage.credits.granted'))).filter(
    (row) => UsageCreditsGranted.parse(row.payload).data.user_id === userId,
  );
const balanceOf = async (userId: string) =>
  (
    await t.app.inject({ method: 'GET', url: '/v1/credits/balance', headers: await t.auth({ sub: userId }) })
  ).json();

describe('kickstart credits from identity.user.created', () => {
  it('grants 5 once through JetStream, and relays usage.credits.granted to the USAGE stream', async () => {
    const event = userCreated();
    const userId = event.data.user_id;
    await publishEvent(t.runtime.bus, event);

    const rows = await eventually(async () => {
      const found = await ledgerOf(userId);
      return found.length > 0 ? found : undefined;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      kind: 'kickstart',
      amount: 5,
      reason: 'kickstart',
      sourceEventId: event.id,
      expiresAt: null,
    });
    expect(await balanceOf(userId)).toMatchObject({ kickstart: 5, total: 5 });

    const [granted] = await grantEventsOf(userId);
    expect(granted).toBeDefined();
    const sent = await eventually(async () => {
      const [row] = await t.runtime.database.db.select().from(outbox).where(eq(outbox.id, granted!.id));
      return row?.publishedAt ? row : undefined;
    });
    const bus = t.runtime.bus;
    const message = await bus.jsm.streams.getMessage(bus.stream('USAGE'), {
      last_by_subj: bus.subject('usage.credits.granted'),
    });
    expect(message?.json()).toEqual(sent.payload);
    expect(UsageCreditsGranted.parse(message?.json()).data).toEqual({
      user_id: userId,
      kind: 'kickstart',
      amount: 5,
      reason: 'kickstart',
    });
  });

  it('leaves 5 when the same event is handled twice (inbox)', async () => {
    const event = userCreated();
    const userId = event.data.user_id;
    const input = { consumer: KICKSTART_CONSUMER, eventId: event.id, userId };
    expect(await grantKickstartCredits(t.runtime, input)).toBe('granted');
    expect(await grantKickstartCredits(t.runtime, input)).toBe('duplicate_event');
    expect(await ledgerOf(userId)).toHaveLength(1);
    expect(await inboxOf(event.id)).toHaveLength(1);
    expect(await grantEventsOf(userId)).toHaveLength(1);
    expect(await balanceOf(userId)).toMatchObject({ kickstart: 5, total: 5 });
  });

  it('leaves 5 when ten deliveries of one event race each other', async () => {
    const userId = newId();
    const input = { consumer: KICKSTART_CONSUMER, eventId: newId(), userId };
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => grantKickstartCredits(t.runtime, input)),
    );
    expect(outcomes.filter((o) => o === 'granted')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate_event')).toHaveLength(9);
    expect(await ledgerOf(userId)).toHaveLength(1);
    expect(await balanceOf(userId)).toMatchObject({ kickstart: 5, total: 5 });
  });

  it('grants nothing for a second, different event about the same user (unique index)', async () => {
    const userId = newId();
    const eventIds = Array.from({ length: 5 }, () => newId());
    const outcomes = await Promise.all(
      eventIds.map((eventId) =>
        grantKickstartCredits(t.runtime, { consumer: KICKSTART_CONSUMER, eventId, userId }),
      ),
    );
    expect(outcomes.filter((o) => o === 'granted')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'already_granted')).toHaveLength(4);
    expect(await ledgerOf(userId)).toHaveLength(1);
    // Every event is still recorded as processed, so none of them is retried.
    for (const eventId of eventIds) expect(await inboxOf(eventId)).toHaveLength(1);
    expect(await grantEventsOf(userId)).toHaveLength(1);
    expect(await balanceOf(userId)).toMatchObject({ kickstart: 5, total: 5 });
  });

  it('gives 20 new users 100 credits in total', async () => {
    const events = Array.from({ length: 20 }, () => userCreated());
    await Promise.all(events.map((event) => publishEvent(t.runtime.bus, event)));
    const balances = await eventually(async () => {
      const all = await Promise.all(events.map((e) => balanceOf(e.data.user_id)));
      return all.every((b) => b.kickstart === 5) ? all : undefined;
    }, 15_000);
    expect(balances.reduce((sum, b) => sum + b.total, 0)).toBe(100);
  });

  it('keeps the ledger append-only: an update is refused', async () => {
    const userId = newId();
    await grantKickstartCredits(t.runtime, { consumer: KICKSTART_CONSUMER, eventId: newId(), userId });
    const refused = await t.runtime.database.db
      .update(creditLedger)
      .set({ amount: 500 })
      .where(eq(creditLedger.userId, userId))
      .then(
        () => undefined,
        (error: Error) => error,
      );
    expect(String((refused?.cause as Error | undefined)?.message)).toMatch(/append-only/);
    expect(await balanceOf(userId)).toMatchObject({ kickstart: 5, total: 5 });
  });
});
