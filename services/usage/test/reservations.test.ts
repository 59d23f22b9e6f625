import { randomUUID } from 'node:crypto';
import {
  newId,
  UsageCreditsConsumed,
  UsageQuotaExhausted,
  usageCommitRpc,
  usageReleaseRpc,
  usageReserveRpc,
  type CreditKind,
  type ReserveRequest,
} from '@offload/contracts';
import { createLogger } from '@offload/platform/logger';
import { callRpc, connectBus, type Bus } from '@offload/platform/nats';
import { buildTestApp, LogCapture, type TestApp } from '@offload/testing';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditLedger, meters, outbox, reservations, type LedgerReason } from '../src/db/schema.js';
import type { UsageRuntime } from '../src/deps.js';
import { periodOf } from '../src/domain/period.js';
import { reconcileUsage } from '../src/use-cases/reconcile-usage.js';
import { usageService } from './support.js';

/**
 * Reservations as the ai service uses them: over real NATS request/reply (the test's own connection and
 * subject namespace), against the usage runtime's real database.
 */

let t: TestApp<UsageRuntime>;
let client: Bus;

beforeAll(async () => {
  t = await buildTestApp(usageService);
  client = await connectBus({
    url: t.infra.natsUrl,
    name: 'usage-test-client',
    prefix: t.infra.natsPrefix,
    logger: createLogger({ service: 'test', destination: new LogCapture() }),
  });
});

afterAll(async () => {
  await client?.close();
  await t?.close();
});

const FEATURE = 'ai_breakdown';
const TIMEOUT = { timeoutMs: 10_000 };

const reserve = (request: ReserveRequest) => callRpc(client, usageReserveRpc, request, TIMEOUT);
const commit = (operation_id: string, amount?: number) =>
  callRpc(
    client,
    usageCommitRpc,
    amount === undefined ? { operation_id } : { operation_id, amount },
    TIMEOUT,
  );
const release = (operation_id: string) => callRpc(client, usageReleaseRpc, { operation_id }, TIMEOUT);

/** A user's device with `used` AI actions this month already on its meter. */
async function userWith(used: number, tier: 'free' | 'pro' = 'free') {
  const userId = newId();
  const installId = `install-${randomUUID()}`;
  if (used > 0) {
    await reconcileUsage(t.runtime, {
      user: { userId, installId, tier },
      request: { install_id: installId, feature: FEATURE, local_count: used },
    });
  }
  const meterRequest = (overrides: Partial<ReserveRequest> = {}): ReserveRequest => ({
    operation_id: newId(),
    user_id: userId,
    tier,
    resource: { kind: 'meter', feature: FEATURE, install_id: installId },
    amount: 1,
    ttl_ms: 60_000,
    ...overrides,
  });
  return { userId, installId, meterRequest };
}

const meterTotal = (userId: string) =>
  t.runtime.meterRepository.total({ userId, period: periodOf(new Date()), feature: FEATURE });

const reservationOf = async (operationId: string) =>
  (
    await t.runtime.database.db.select().from(reservations).where(eq(reservations.operationId, operationId))
  )[0];

/** The code an RPC failed with (callRpc hides it behind service_unavailable, keeping it as the cause). */
const rpcFailure = (promise: Promise<unknown>) =>
  promise.then(
    () => 'succeeded',
    (error: { code?: string; cause?: unknown }) => `${error.code}:${String(error.cause)}`,
  );

describe('meter reservations', () => {
  it('lets exactly one of 50 parallel reserves through at 99 of 100 used', async () => {
    const u = await userWith(99);
    const answers = await Promise.all(Array.from({ length: 50 }, () => reserve(u.meterRequest())));
    const granted = answers.filter((a) => a.status === 'granted');
    expect(granted).toHaveLength(1);
    expect(granted[0]).toMatchObject({ remaining: 0 });
    const denied = answers.filter((a) => a.status === 'denied');
    expect(denied).toHaveLength(49);
    for (const answer of denied)
      expect(answer).toEqual({ status: 'denied', code: 'quota_exceeded', remaining: 0 });

    expect(await commit(granted[0]!.status === 'granted' ? granted[0]!.operation_id : '')).toEqual({
      status: 'committed',
    });
    expect(await meterTotal(u.userId)).toBe(100);
    expect((await reserve(u.meterRequest())).status).toBe('denied');
  });

  it('lets exactly the remaining number through: 5 of 50 at 95 used', async () => {
    const u = await userWith(95);
    const answers = await Promise.all(Array.from({ length: 50 }, () => reserve(u.meterRequest())));
    const granted = answers.filter((a) => a.status === 'granted');
    expect(granted).toHaveLength(5);
    expect(granted.map((a) => a.remaining).sort()).toEqual([0, 1, 2, 3, 4]);
    await Promise.all(granted.map((a) => (a.status === 'granted' ? commit(a.operation_id) : undefined)));
    expect(await meterTotal(u.userId)).toBe(100);
  });

  it('adds a commit to the device’s meter, visible to reconcile and GET /v1/usage', async () => {
    const u = await userWith(10);
    const answer = await reserve(u.meterRequest({ amount: 3 }));
    expect(answer).toMatchObject({ status: 'granted', remaining: 87 });
    expect(await commit(answer.status === 'granted' ? answer.operation_id : '', 2)).toEqual({
      status: 'committed',
    });
    expect(await meterTotal(u.userId)).toBe(12);
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/usage',
      headers: await t.auth({ sub: u.userId, did: u.installId }),
    });
    expect(res.json().data[0]).toMatchObject({ feature: FEATURE, server_count: 12, effective_remaining: 88 });
    // The device's later reconcile of its own count (which includes these calls) does not double count.
    const reconciled = await t.app.inject({
      method: 'POST',
      url: '/v1/usage/reconcile',
      headers: await t.auth({ sub: u.userId, did: u.installId }),
      payload: { install_id: u.installId, feature: FEATURE, local_count: 12 },
    });
    expect(reconciled.json().server_count).toBe(12);
  });

  it('is idempotent: a repeated reserve gets the first answer, granted or denied, even after settling', async () => {
    const u = await userWith(99);
    const first = u.meterRequest();
    const granted = await reserve(first);
    expect(granted).toEqual({ status: 'granted', operation_id: first.operation_id, remaining: 0 });
    expect(await reserve(first)).toEqual(granted);
    const second = u.meterRequest();
    const denied = await reserve(second);
    expect(denied).toEqual({ status: 'denied', code: 'quota_exceeded', remaining: 0 });
    await commit(first.operation_id);
    expect(await reserve(first)).toEqual(granted);
    expect(await reserve(second)).toEqual(denied);
    expect(await meterTotal(u.userId)).toBe(100);
    // Ten concurrent repeats of one new operation hold one unit, not ten.
    const v = await userWith(90);
    const same = v.meterRequest();
    const repeats = await Promise.all(Array.from({ length: 10 }, () => reserve(same)));
    expect(new Set(repeats.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(repeats[0]).toMatchObject({ status: 'granted', remaining: 9 });
    expect(await reserve(v.meterRequest())).toMatchObject({ status: 'granted', remaining: 8 });
  });

  it('refuses an operation id reused for a different request (idempotency_conflict)', async () => {
    const u = await userWith(0);
    const first = u.meterRequest();
    await reserve(first);
    expect(await rpcFailure(reserve({ ...first, amount: 2 }))).toBe(
      'service_unavailable:idempotency_conflict',
    );
    const other = await userWith(0);
    expect(await rpcFailure(reserve({ ...other.meterRequest(), operation_id: first.operation_id }))).toBe(
      'service_unavailable:idempotency_conflict',
    );
    expect(await reservationOf(first.operation_id)).toMatchObject({ userId: u.userId, amount: 1 });
  });

  it('lets one of two users win an operation id they reserve at the same time; the other gets a conflict', async () => {
    // Different users take different locks: the loser either finds the winner's row or, racing it to the
    // insert, hits the primary key and then finds it; either way that row is not its request.
    for (let round = 0; round < 5; round++) {
      const [a, b] = [await userWith(0), await userWith(0)];
      const operationId = newId();
      const answers = await Promise.all(
        [a, b].map((u) => rpcFailure(reserve(u.meterRequest({ operation_id: operationId })))),
      );
      expect(answers.sort()).toEqual(['service_unavailable:idempotency_conflict', 'succeeded']);
    }
  });

  it('is idempotent on settling: commit twice counts once; release after commit changes nothing', async () => {
    const u = await userWith(0);
    const request = u.meterRequest({ amount: 2 });
    await reserve(request);
    expect(await commit(request.operation_id)).toEqual({ status: 'committed' });
    expect(await commit(request.operation_id)).toEqual({ status: 'already_committed' });
    expect(await release(request.operation_id)).toEqual({ status: 'already_committed' });
    expect(await meterTotal(u.userId)).toBe(2);
    const concurrent = u.meterRequest();
    await reserve(concurrent);
    const answers = await Promise.all(Array.from({ length: 10 }, () => commit(concurrent.operation_id)));
    expect(answers.filter((a) => a.status === 'committed')).toHaveLength(1);
    expect(answers.filter((a) => a.status === 'already_committed')).toHaveLength(9);
    expect(await meterTotal(u.userId)).toBe(3);
  });

  it('frees a released hold at once; release twice and commit after release change nothing', async () => {
    const u = await userWith(99);
    const held = u.meterRequest();
    expect((await reserve(held)).status).toBe('granted');
    expect((await reserve(u.meterRequest())).status).toBe('denied');
    expect(await release(held.operation_id)).toEqual({ status: 'released' });
    expect(await release(held.operation_id)).toEqual({ status: 'already_released' });
    expect(await commit(held.operation_id)).toEqual({ status: 'already_released' });
    expect(await meterTotal(u.userId)).toBe(99);
    const next = u.meterRequest();
    expect(await reserve(next)).toMatchObject({ status: 'granted', remaining: 0 });
    expect(await commit(next.operation_id)).toEqual({ status: 'committed' });
    expect(await meterTotal(u.userId)).toBe(100);
  });

  it('answers unknown for an operation never reserved, and for one that was denied', async () => {
    expect(await commit(newId())).toEqual({ status: 'unknown' });
    expect(await release(newId())).toEqual({ status: 'unknown' });
    const u = await userWith(100);
    const denied = u.meterRequest();
    expect((await reserve(denied)).status).toBe('denied');
    expect(await commit(denied.operation_id)).toEqual({ status: 'unknown' });
    expect(await meterTotal(u.userId)).toBe(100);
  });

  it('stops counting a hold at its TTL: expiry frees it, and a late commit charges nothing', async () => {
    const u = await userWith(99);
    const short = u.meterRequest({ ttl_ms: 1_000 });
    expect((await reserve(short)).status).toBe('granted');
    expect((await reserve(u.meterRequest())).status).toBe('denied');
    await new Promise((r) => setTimeout(r, 1_200));
    const after = u.meterRequest();
    expect(await reserve(after)).toMatchObject({ status: 'granted', remaining: 0 });
    expect(await commit(short.operation_id)).toEqual({ status: 'expired' });
    expect(await release(short.operation_id)).toEqual({ status: 'expired' });
    expect(await reservationOf(short.operation_id)).toMatchObject({
      status: 'expired',
      committedAmount: null,
    });
    expect(await commit(after.operation_id)).toEqual({ status: 'committed' });
    expect(await meterTotal(u.userId)).toBe(100);
  });

  it('marks holds past their TTL expired in the sweep, leaving live ones held', async () => {
    const u = await userWith(0);
    const short = u.meterRequest({ ttl_ms: 1_000 });
    const long = u.meterRequest();
    await reserve(short);
    await reserve(long);
    await new Promise((r) => setTimeout(r, 1_200));
    const swept = await t.runtime.sweeper.sweep();
    expect(swept.expired).toBeGreaterThanOrEqual(1);
    expect(await reservationOf(short.operation_id)).toMatchObject({ status: 'expired' });
    expect(await reservationOf(long.operation_id)).toMatchObject({ status: 'held' });
    expect(await commit(short.operation_id)).toEqual({ status: 'expired' });
    expect(await commit(long.operation_id)).toEqual({ status: 'committed' });
  });

  it('refuses a commit above the reserved amount and keeps the hold', async () => {
    const u = await userWith(0);
    const request = u.meterRequest({ amount: 2 });
    await reserve(request);
    expect(await rpcFailure(commit(request.operation_id, 3))).toBe('service_unavailable:validation_error');
    expect(await reservationOf(request.operation_id)).toMatchObject({ status: 'held' });
    expect(await commit(request.operation_id, 0)).toEqual({ status: 'committed' });
    expect(await meterTotal(u.userId)).toBe(0);
  });

  it('checks the tier’s quota: a pro user gets past 100', async () => {
    const u = await userWith(150, 'pro');
    expect(await reserve(u.meterRequest())).toMatchObject({ status: 'granted', remaining: 849 });
  });

  it('counts reservations in the current UTC month only', async () => {
    const u = await userWith(0);
    // A full meter last month does not limit this month.
    await t.runtime.database.db.insert(meters).values({
      userId: u.userId,
      period: '2000-01',
      feature: FEATURE,
      installIdHash: 'a'.repeat(64),
      count: 100,
    });
    const request = u.meterRequest();
    expect(await reserve(request)).toMatchObject({ status: 'granted', remaining: 99 });
    expect(await reservationOf(request.operation_id)).toMatchObject({ period: periodOf(new Date()) });
  });

  it('announces usage.quota.exhausted once when a commit reaches the quota', async () => {
    const u = await userWith(98);
    const events = async () =>
      (await t.runtime.database.db.select().from(outbox).where(eq(outbox.type, 'usage.quota.exhausted')))
        .map((row) => UsageQuotaExhausted.parse(row.payload))
        .filter((e) => e.data.user_id === u.userId);
    const a = u.meterRequest();
    await reserve(a);
    await commit(a.operation_id);
    expect(await events()).toHaveLength(0);
    const b = u.meterRequest();
    await reserve(b);
    await commit(b.operation_id);
    const [event] = await events();
    expect(event?.data).toMatchObject({ user_id: u.userId, feature: FEATURE, quota: 100, used: 100 });
    expect(await events()).toHaveLength(1);
  });

  it('refuses a feature name that is not an identifier, and never logs install ids', async () => {
    const u = await userWith(0);
    const bad = u.meterRequest({ resource: { kind: 'meter', feature: 'a b', install_id: u.installId } });
    expect(await rpcFailure(reserve(bad))).toBe('service_unavailable:validation_error');
    expect(t.logs.text()).not.toContain(u.installId);
    expect(t.logs.text()).toContain('reservation handled');
  });
});

describe('credit reservations', () => {
  /** A user with grants of every kind: daily 2 (expiring in 2 h), subscription 3, purchased 1, kickstart 5. */
  async function userWithCredits() {
    const userId = newId();
    const now = new Date();
    // Daily credits expire at midnight UTC; two hours ahead keeps the test clear of a real midnight.
    const soon = new Date(now.getTime() + 2 * 3_600_000);
    // Only kickstart grants exist in the service so far; the other kinds are written as their grants will
    // be (their reasons are placeholders).
    const grant = (kind: CreditKind, amount: number, expiresAt: Date | null) => ({
      id: newId(),
      userId,
      kind,
      amount,
      reason: (kind === 'kickstart' ? 'kickstart' : `test_${kind}`) as LedgerReason,
      expiresAt,
    });
    await t.runtime.database.db
      .insert(creditLedger)
      .values([
        grant('kickstart', 5, null),
        grant('purchased', 1, null),
        grant('subscription', 3, new Date(now.getTime() + 30 * 86_400_000)),
        grant('daily', 2, soon),
      ]);
    const creditRequest = (amount: number, overrides: Partial<ReserveRequest> = {}): ReserveRequest => ({
      operation_id: newId(),
      user_id: userId,
      tier: 'pro',
      resource: { kind: 'credits' },
      amount,
      ttl_ms: 60_000,
      ...overrides,
    });
    const balance = async () =>
      (
        await t.app.inject({
          method: 'GET',
          url: '/v1/credits/balance',
          headers: await t.auth({ sub: userId }),
        })
      ).json();
    const debits = () =>
      t.runtime.database.db
        .select({
          kind: creditLedger.kind,
          amount: creditLedger.amount,
          operationId: creditLedger.operationId,
        })
        .from(creditLedger)
        .where(and(eq(creditLedger.userId, userId), eq(creditLedger.reason, 'consumed')));
    return { userId, creditRequest, balance, debits };
  }

  it('debits in spend order on commit: daily, subscription, purchased, kickstart', async () => {
    const u = await userWithCredits();
    expect(await u.balance()).toMatchObject({
      daily: 2,
      subscription: 3,
      purchased: 1,
      kickstart: 5,
      total: 11,
    });
    const first = u.creditRequest(4);
    expect(await reserve(first)).toEqual({
      status: 'granted',
      operation_id: first.operation_id,
      remaining: 7,
    });
    expect(await commit(first.operation_id)).toEqual({ status: 'committed' });
    expect(await u.balance()).toMatchObject({
      daily: 0,
      subscription: 1,
      purchased: 1,
      kickstart: 5,
      total: 7,
    });
    expect(await u.debits()).toEqual(
      expect.arrayContaining([
        { kind: 'daily', amount: -2, operationId: first.operation_id },
        { kind: 'subscription', amount: -2, operationId: first.operation_id },
      ]),
    );

    const second = u.creditRequest(7);
    expect(await reserve(second)).toMatchObject({ status: 'granted', remaining: 0 });
    expect(await commit(second.operation_id)).toEqual({ status: 'committed' });
    expect(await u.balance()).toMatchObject({
      daily: 0,
      subscription: 0,
      purchased: 0,
      kickstart: 0,
      total: 0,
    });
    expect(await u.debits()).toHaveLength(5);
    expect(await commit(second.operation_id)).toEqual({ status: 'already_committed' });
    expect(await u.debits()).toHaveLength(5);

    const consumed = (
      await t.runtime.database.db.select().from(outbox).where(eq(outbox.type, 'usage.credits.consumed'))
    )
      .map((row) => UsageCreditsConsumed.parse(row.payload).data)
      .filter((d) => d.user_id === u.userId);
    expect(consumed).toEqual(
      expect.arrayContaining([
        { user_id: u.userId, operation_id: first.operation_id, amount: 4, remaining: 7 },
        { user_id: u.userId, operation_id: second.operation_id, amount: 7, remaining: 0 },
      ]),
    );
    expect(consumed).toHaveLength(2);
  });

  it('denies insufficient_credits beyond the balance minus other holds, and a release frees them', async () => {
    const u = await userWithCredits();
    expect(await reserve(u.creditRequest(12))).toEqual({
      status: 'denied',
      code: 'insufficient_credits',
      remaining: 11,
    });
    const held = u.creditRequest(8);
    expect(await reserve(held)).toMatchObject({ status: 'granted', remaining: 3 });
    expect(await reserve(u.creditRequest(4))).toEqual({
      status: 'denied',
      code: 'insufficient_credits',
      remaining: 3,
    });
    expect(await release(held.operation_id)).toEqual({ status: 'released' });
    expect(await reserve(u.creditRequest(11))).toMatchObject({ status: 'granted', remaining: 0 });
    expect(await u.balance()).toMatchObject({ total: 11 });
    expect(await u.debits()).toHaveLength(0);
  });

  it('denies a user without credits, and lets exactly the balance through 20 parallel reserves', async () => {
    const broke = newId();
    expect(
      await reserve({
        operation_id: newId(),
        user_id: broke,
        tier: 'free',
        resource: { kind: 'credits' },
        amount: 1,
        ttl_ms: 1_000,
      }),
    ).toEqual({ status: 'denied', code: 'insufficient_credits', remaining: 0 });
    const u = await userWithCredits();
    const answers = await Promise.all(Array.from({ length: 20 }, () => reserve(u.creditRequest(1))));
    const granted = answers.filter((a) => a.status === 'granted');
    expect(granted).toHaveLength(11);
    await Promise.all(granted.map((a) => (a.status === 'granted' ? commit(a.operation_id) : undefined)));
    expect(await u.balance()).toMatchObject({
      daily: 0,
      subscription: 0,
      purchased: 0,
      kickstart: 0,
      total: 0,
    });
  });

  it('commits a smaller real amount, and charges nothing for an expired hold', async () => {
    const u = await userWithCredits();
    const partial = u.creditRequest(5);
    await reserve(partial);
    expect(await commit(partial.operation_id, 1)).toEqual({ status: 'committed' });
    expect(await u.balance()).toMatchObject({ daily: 1, total: 10 });
    expect(await reservationOf(partial.operation_id)).toMatchObject({
      status: 'committed',
      committedAmount: 1,
    });
    const short = u.creditRequest(3, { ttl_ms: 1_000 });
    await reserve(short);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await commit(short.operation_id)).toEqual({ status: 'expired' });
    expect(await u.balance()).toMatchObject({ total: 10 });
  });
});
