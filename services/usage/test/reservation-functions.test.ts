import { newId } from '@offload/contracts';
import { buildTestApp, type TestApp } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageRuntime } from '../src/deps.js';
import { periodOf } from '../src/domain/period.js';
import { decideMeterHold } from '../src/domain/quota.js';
import { planSettle, type ReservationStatus } from '../src/domain/reservation.js';
import { hashInstallId } from '../src/security/install-id.js';
import { usageService } from './support.js';

/**
 * The meter reservation functions of migration 0004 (ADR 0012) against the domain rules they implement:
 * `usage.reserve_meter` decides like `decideMeterHold`, `usage.settle_meter` like `planSettle`, over every
 * combination, not only the cases the RPC tests walk through.
 */

let t: TestApp<UsageRuntime>;

beforeAll(async () => {
  t = await buildTestApp(usageService);
});

afterAll(async () => {
  await t?.close();
});

const FEATURE = 'ai_breakdown';
const period = () => periodOf(new Date());
const event = () => ({ id: newId(), time: new Date().toISOString(), headers: {}, channel: 'test_unused' });

/** A fresh user's device with `used` committed and `held` live in holds of 1, plus one expired hold of 9. */
async function meterWith(used: number, held: number) {
  const userId = newId();
  const installIdHash = hashInstallId(`install-${newId()}`);
  const key = { userId, tier: 'free' as const, feature: FEATURE, installIdHash, period: period() };
  const hold = (amount: number) =>
    t.runtime.reservationRepository.reserveMeter({
      ...key,
      operationId: newId(),
      amount,
      ttlMs: 60_000,
      quota: 1_000,
    });
  for (let i = 0; i < used; i++) {
    const h = await hold(1);
    await settle(h.operationId, 'commit');
  }
  for (let i = 0; i < held; i++) await hold(1);
  // Past its TTL by the database's clock, whatever the timing of the test (a 1 ms TTL could still be live).
  const expired = await hold(9);
  await t.runtime.database.sql`update usage.reservations set expires_at = now() - interval '1 second'
    where operation_id = ${expired.operationId}`;
  return { key, hold };
}

const settle = (operationId: string, action: 'commit' | 'release', amount?: number) =>
  t.runtime.reservationRepository.settleMeter({
    operationId,
    action,
    amount,
    quotas: { free: 1_000, pro: 1_000 },
    event: event(),
  });

describe('usage.reserve_meter', () => {
  it('decides every hold as decideMeterHold does (quota 0/1/3/4, used 0/1/3, held 0/2, amount 1/3, an expired hold beside)', async () => {
    const cases: { quota: number; used: number; held: number; amount: number }[] = [];
    for (const used of [0, 1, 3]) {
      for (const held of [0, 2]) {
        for (const quota of [0, 1, 3, 4])
          for (const amount of [1, 3]) cases.push({ quota, used, held, amount });
      }
    }
    const mismatches: string[] = [];
    for (const c of cases) {
      const { key } = await meterWith(c.used, c.held);
      const row = await t.runtime.reservationRepository.reserveMeter({
        ...key,
        operationId: newId(),
        amount: c.amount,
        ttlMs: 60_000,
        quota: c.quota,
      });
      const expected = decideMeterHold(c);
      const got = { granted: row.status === 'held', remaining: row.remaining };
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        mismatches.push(`${JSON.stringify(c)}: ${JSON.stringify(got)} != ${JSON.stringify(expected)}`);
      }
      expect(row.denialCode).toBe(expected.granted ? null : 'quota_exceeded');
      expect(row.replayed).toBe(false);
    }
    expect(mismatches).toEqual([]);
  });

  it('answers a known operation id with its stored row, marked replayed, and stores nothing new', async () => {
    const { key, hold } = await meterWith(0, 0);
    const first = await hold(2);
    const again = await t.runtime.reservationRepository.reserveMeter({
      ...key,
      operationId: first.operationId,
      amount: 2,
      ttlMs: 60_000,
      quota: 0,
    });
    expect(again).toEqual({ ...first, replayed: true });
  });
});

describe('usage.settle_meter', () => {
  it('settles every stored status as planSettle plans it, for commit and release', async () => {
    const statuses: ReservationStatus[] = ['held', 'committed', 'released', 'expired', 'denied'];
    for (const action of ['commit', 'release'] as const) {
      for (const status of statuses) {
        for (const pastExpiry of [false, true]) {
          const { key, hold } = await meterWith(0, 0);
          const row = await (status === 'denied'
            ? t.runtime.reservationRepository.reserveMeter({
                ...key,
                operationId: newId(),
                amount: 1,
                ttlMs: 60_000,
                quota: 0,
              })
            : hold(1));
          if (status === 'committed' || status === 'released') {
            await settle(row.operationId, status === 'committed' ? 'commit' : 'release');
          }
          if (status === 'expired') {
            await t.runtime.database.sql`update usage.reservations set status = 'expired'
              where operation_id = ${row.operationId}`;
          }
          // The TTL passing is set by the database's clock, never left to the test's timing.
          if (pastExpiry) {
            await t.runtime.database
              .sql`update usage.reservations set expires_at = now() - interval '1 second'
              where operation_id = ${row.operationId}`;
          }
          const plan = planSettle({ status, pastExpiry });
          const expected = plan.apply ? (action === 'commit' ? 'committed' : 'released') : plan.status;
          const answer = await settle(row.operationId, action);
          expect({ action, status, pastExpiry, answer: answer.status }).toEqual({
            action,
            status,
            pastExpiry,
            answer: expected,
          });
          const [stored] = await t.runtime.database.sql<{ status: string }[]>`
            select status from usage.reservations where operation_id = ${row.operationId}`;
          const after = plan.apply ? expected : plan.markExpired ? 'expired' : status;
          expect(stored?.status).toBe(after);
        }
      }
    }
  });

  it('answers unknown for an operation never reserved, and amount_too_large without changing anything', async () => {
    expect(await settle(newId(), 'commit')).toEqual({ status: 'unknown', reserved: null });
    const { key, hold } = await meterWith(0, 0);
    const h = await hold(2);
    expect(await settle(h.operationId, 'commit', 3)).toEqual({ status: 'amount_too_large', reserved: 2 });
    expect(await settle(h.operationId, 'commit', 2)).toEqual({ status: 'committed', reserved: 2 });
    expect(await t.runtime.meterRepository.total(key)).toBe(2);
  });

  it('refuses an unknown action', async () => {
    const { hold } = await meterWith(0, 0);
    const h = await hold(1);
    await expect(settle(h.operationId, 'charge' as 'commit')).rejects.toMatchObject({
      cause: { code: '22023' },
    });
  });
});
