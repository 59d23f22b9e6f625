import { randomUUID } from 'node:crypto';
import { newId, UsageUserPurged, usageCommitRpc, usageReserveRpc } from '@offload/contracts';
import { callRpc, publishEvent } from '@offload/platform/nats';
import {
  buildTestApp,
  eventually,
  startErasureProbe,
  userTablesOf,
  type ErasureProbe,
  type TestApp,
} from '@offload/testing';
import { purgeUserData } from '@offload/platform/erasure';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  creditLedger,
  erasedUsers,
  inbox,
  meters,
  outbox,
  quotaExhaustions,
  reservations,
} from '../src/db/schema.js';
import { createUserDataRepository, erasureMarkOf } from '../src/db/user-data-repository.js';
import type { UsageRuntime } from '../src/deps.js';
import { usageService, userCreated } from './support.js';

/**
 * Account erasure in the usage service (DESIGN 5): `identity.user.deleted` in, every meter, ledger row,
 * reservation and exhaustion mark of the user gone, `usage.user.purged` out; redeliveries change nothing.
 */

const QUOTA = 3;
const FEATURE = 'ai_breakdown';
const RPC = { timeoutMs: 10_000 };

let t: TestApp<UsageRuntime>;
let probe: ErasureProbe;

beforeAll(async () => {
  t = await buildTestApp(usageService, { env: { FREE_MONTHLY_AI_ACTIONS: String(QUOTA) } });
  probe = await startErasureProbe(t.runtime.bus, 'usage');
});

afterAll(async () => {
  await probe?.stop();
  await t?.close();
});

const PURGE_CONSUMER = 'usage__user_purge';
const db = () => t.runtime.database.db;
/** The service's erasure as its runtime wires it, for calling the purge directly. */
const erasure = () => ({
  service: 'usage' as const,
  database: t.runtime.database,
  inbox,
  outbox,
  purge: t.runtime.userDataRepository.purge,
});

/** Row counts of a user in every table of the usage schema (the outbox aside). */
async function rowsOf(userId: string) {
  const [ledger, meterRows, held, exhaustions] = await Promise.all([
    db().select().from(creditLedger).where(eq(creditLedger.userId, userId)),
    db().select().from(meters).where(eq(meters.userId, userId)),
    db().select().from(reservations).where(eq(reservations.userId, userId)),
    db().select().from(quotaExhaustions).where(eq(quotaExhaustions.userId, userId)),
  ]);
  return {
    credit_ledger: ledger.length,
    meters: meterRows.length,
    reservations: held.length,
    quota_exhaustions: exhaustions.length,
  };
}

const reconcile = async (userId: string, installId: string, localCount: number) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/usage/reconcile',
    headers: await t.auth({ sub: userId, did: installId }),
    payload: { install_id: installId, feature: FEATURE, local_count: localCount },
  });
  expect(res.statusCode).toBe(200);
};

/**
 * A user with a row in every usage table: the kickstart grant, two devices' meters (one at the quota, so
 * its exhaustion is marked), a committed credit reservation (a debit) and a credit hold still held.
 */
async function userWithUsage() {
  const userId = newId();
  await publishEvent(t.runtime.bus, userCreated(userId));
  await eventually(async () => (await rowsOf(userId)).credit_ledger === 1);
  await reconcile(userId, `install-${randomUUID()}`, QUOTA);
  await reconcile(userId, `install-${randomUUID()}`, 0);
  const spend = newId();
  const reserveCredits = (operationId: string, amount: number) =>
    callRpc(
      t.runtime.bus,
      usageReserveRpc,
      {
        operation_id: operationId,
        user_id: userId,
        tier: 'free',
        resource: { kind: 'credits' },
        amount,
        ttl_ms: 60_000,
      },
      RPC,
    );
  expect((await reserveCredits(spend, 2)).status).toBe('granted');
  expect(await callRpc(t.runtime.bus, usageCommitRpc, { operation_id: spend }, RPC)).toEqual({
    status: 'committed',
  });
  const held = newId();
  expect((await reserveCredits(held, 1)).status).toBe('granted');
  expect(await rowsOf(userId)).toEqual({
    credit_ledger: 2,
    meters: 2,
    reservations: 2,
    quota_exhaustions: 1,
  });
  return { userId, heldOperation: held };
}

const confirmationsInOutbox = async (userId: string) =>
  (await db().select().from(outbox).where(eq(outbox.type, 'usage.user.purged')))
    .map((row) => UsageUserPurged.parse(row.payload))
    .filter((event) => event.subject === userId);

describe('usage__user_purge', () => {
  it('deletes every meter, ledger row, reservation and exhaustion mark of the user and confirms', async () => {
    const erased = await userWithUsage();
    const bystander = await userWithUsage();

    const request = await probe.requestErasure(erased.userId);
    const confirmation = await probe.confirmation(request.data.erasure_id);

    expect(confirmation).toMatchObject({
      type: 'usage.user.purged',
      source: 'usage',
      subject: erased.userId,
      data: {
        user_id: erased.userId,
        erasure_id: request.data.erasure_id,
        service: 'usage',
        purged_at: expect.stringMatching(/Z$/),
        erased: { credit_ledger: 2, meters: 2, reservations: 2, quota_exhaustions: 1 },
      },
    });
    expect(await rowsOf(erased.userId)).toEqual({
      credit_ledger: 0,
      meters: 0,
      reservations: 0,
      quota_exhaustions: 0,
    });
    expect(await rowsOf(bystander.userId)).toEqual({
      credit_ledger: 2,
      meters: 2,
      reservations: 2,
      quota_exhaustions: 1,
    });

    // The API sees an empty account.
    const headers = await t.auth({ sub: erased.userId });
    const balance = await t.app.inject({ method: 'GET', url: '/v1/credits/balance', headers });
    expect(balance.json()).toMatchObject({ total: 0, kickstart: 0 });
    const usage = await t.app.inject({ method: 'GET', url: '/v1/usage', headers });
    expect(usage.json().data).toEqual([]);

    // A commit of the erased user's hold that arrives afterwards charges nothing and writes nothing.
    expect(await callRpc(t.runtime.bus, usageCommitRpc, { operation_id: erased.heldOperation }, RPC)).toEqual(
      { status: 'unknown' },
    );
    expect((await rowsOf(erased.userId)).credit_ledger).toBe(0);

    const claimed = await db()
      .select()
      .from(inbox)
      .where(and(eq(inbox.consumer, PURGE_CONSUMER), eq(inbox.eventId, request.id)));
    expect(claimed).toHaveLength(1);
  });

  it('a redelivered event changes nothing; another event for the user deletes nothing and confirms again', async () => {
    const { userId } = await userWithUsage();
    const first = await probe.requestErasure(userId);
    await probe.confirmation(first.data.erasure_id);

    const again = await purgeUserData(erasure(), {
      consumer: PURGE_CONSUMER,
      eventId: first.id,
      userId,
      erasureId: first.data.erasure_id,
    });
    expect(again).toEqual({ outcome: 'duplicate_event' });
    expect(await confirmationsInOutbox(userId)).toHaveLength(1);

    const second = await probe.requestErasure(userId);
    const confirmation = await probe.confirmation(second.data.erasure_id);
    expect(confirmation.data.erased).toEqual({
      credit_ledger: 0,
      meters: 0,
      reservations: 0,
      quota_exhaustions: 0,
    });
    expect(await confirmationsInOutbox(userId)).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(probe.confirmations(first.data.erasure_id)).toHaveLength(1);
  });

  it('a creation event that arrives after the erasure grants nothing (the erasure mark stops it)', async () => {
    // identity.user.created and .deleted go to two durables that progress independently: when usage was
    // away, the purge may run first.
    const created = userCreated();
    const userId = created.data.user_id;
    const request = await probe.requestErasure(userId);
    await probe.confirmation(request.data.erasure_id);
    const marks = await db()
      .select()
      .from(erasedUsers)
      .where(eq(erasedUsers.userIdHash, erasureMarkOf(userId)));
    expect(marks).toHaveLength(1);
    expect(JSON.stringify(marks)).not.toContain(userId);

    await publishEvent(t.runtime.bus, created);
    await eventually(async () =>
      t.logs
        .parsed()
        .some(
          (l) =>
            l.msg === 'kickstart credits handled' && l.event_id === created.id && l.outcome === 'user_erased',
        ),
    );
    expect(await rowsOf(userId)).toEqual({
      credit_ledger: 0,
      meters: 0,
      reservations: 0,
      quota_exhaustions: 0,
    });
    const headers = await t.auth({ sub: userId });
    const balance = await t.app.inject({ method: 'GET', url: '/v1/credits/balance', headers });
    expect(balance.json()).toMatchObject({ total: 0, kickstart: 0 });
  });

  it('forgets an erasure mark after the retention, in the sweep', async () => {
    const old = erasureMarkOf(newId());
    await db()
      .insert(erasedUsers)
      .values({ userIdHash: old, erasedAt: new Date(Date.now() - 31 * 86_400_000) });
    const recent = erasureMarkOf(newId());
    await db().insert(erasedUsers).values({ userIdHash: recent });
    const swept = await t.runtime.sweeper.sweep();
    expect(swept.forgotten).toBeGreaterThanOrEqual(1);
    expect(await db().select().from(erasedUsers).where(eq(erasedUsers.userIdHash, old))).toHaveLength(0);
    expect(await db().select().from(erasedUsers).where(eq(erasedUsers.userIdHash, recent))).toHaveLength(1);
  });

  it('purges every table of the usage schema that holds user ids, and leaves a mark that holds none', async () => {
    const userId = newId();
    const counted = await db().transaction((tx) => createUserDataRepository().purge(tx, userId));
    expect(Object.keys(counted).sort()).toEqual(await userTablesOf(t.runtime.database.sql, 'usage'));
    const marks = await db()
      .select()
      .from(erasedUsers)
      .where(eq(erasedUsers.userIdHash, erasureMarkOf(userId)));
    expect(marks).toHaveLength(1);
  });
});
