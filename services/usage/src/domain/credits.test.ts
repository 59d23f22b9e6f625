import { CreditBalance } from '@offload/contracts';
import { describe, expect, it } from 'vitest';
import { nextDailyReset, planDebit, toCreditBalance, type CreditBucket } from './credits.js';

describe('nextDailyReset', () => {
  it('is the next 00:00 UTC', () => {
    expect(nextDailyReset(new Date('2026-03-14T15:09:26.535Z')).toISOString()).toBe(
      '2026-03-15T00:00:00.000Z',
    );
  });
  it('is a whole day ahead at exactly midnight, and one millisecond ahead just before it', () => {
    expect(nextDailyReset(new Date('2026-03-15T00:00:00.000Z')).toISOString()).toBe(
      '2026-03-16T00:00:00.000Z',
    );
    expect(nextDailyReset(new Date('2026-03-14T23:59:59.999Z')).toISOString()).toBe(
      '2026-03-15T00:00:00.000Z',
    );
  });
  it('rolls over months and years', () => {
    expect(nextDailyReset(new Date('2026-12-31T12:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(nextDailyReset(new Date('2028-02-28T12:00:00Z')).toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });
});

describe('toCreditBalance', () => {
  const now = new Date('2026-03-14T15:00:00Z');

  it('is all zeros for a user without ledger rows', () => {
    expect(toCreditBalance({}, now)).toEqual({
      daily: 0,
      subscription: 0,
      purchased: 0,
      kickstart: 0,
      total: 0,
      daily_reset_at: '2026-03-15T00:00:00.000Z',
    });
  });

  it('sums every kind into the total and matches the contract', () => {
    const balance = toCreditBalance({ daily: 10, subscription: 100, purchased: 7, kickstart: 5 }, now);
    expect(balance).toMatchObject({ daily: 10, subscription: 100, purchased: 7, kickstart: 5, total: 122 });
    expect(CreditBalance.parse(balance)).toEqual(balance);
  });

  it('never shows a kind below zero', () => {
    const balance = toCreditBalance({ daily: -3, kickstart: 5 }, now);
    expect(balance.daily).toBe(0);
    expect(balance.total).toBe(5);
  });
});

describe('planDebit', () => {
  const d = (iso: string) => new Date(iso);
  const bucket = (
    kind: CreditBucket['kind'],
    balance: number,
    expiresAt: string | null,
    firstGrantAt = '2026-01-01T00:00:00Z',
  ): CreditBucket => ({
    kind,
    balance,
    expiresAt: expiresAt ? d(expiresAt) : null,
    firstGrantAt: d(firstGrantAt),
  });

  it('spends daily, then subscription, then purchased, then kickstart', () => {
    const buckets = [
      bucket('kickstart', 5, null),
      bucket('purchased', 2, null),
      bucket('subscription', 1, '2026-04-01T00:00:00Z'),
      bucket('daily', 2, '2026-03-15T00:00:00Z'),
    ];
    expect(planDebit(buckets, 7)).toEqual({
      draws: [
        { kind: 'daily', expiresAt: d('2026-03-15T00:00:00Z'), amount: 2 },
        { kind: 'subscription', expiresAt: d('2026-04-01T00:00:00Z'), amount: 1 },
        { kind: 'purchased', expiresAt: null, amount: 2 },
        { kind: 'kickstart', expiresAt: null, amount: 2 },
      ],
      shortfall: 0,
    });
  });

  it('takes the oldest credits of a kind first: soonest expiry, never-expiring last, then first grant', () => {
    const buckets = [
      bucket('subscription', 3, null, '2026-01-01T00:00:00Z'),
      bucket('subscription', 3, '2026-05-01T00:00:00Z'),
      bucket('subscription', 3, '2026-04-01T00:00:00Z'),
    ];
    expect(planDebit(buckets, 5).draws).toEqual([
      { kind: 'subscription', expiresAt: d('2026-04-01T00:00:00Z'), amount: 3 },
      { kind: 'subscription', expiresAt: d('2026-05-01T00:00:00Z'), amount: 2 },
    ]);
  });

  it('skips empty or negative buckets and reports what it could not cover', () => {
    const buckets = [
      bucket('daily', 0, '2026-03-15T00:00:00Z'),
      bucket('purchased', -1, null),
      bucket('kickstart', 2, null),
    ];
    expect(planDebit(buckets, 3)).toEqual({
      draws: [{ kind: 'kickstart', expiresAt: null, amount: 2 }],
      shortfall: 1,
    });
    expect(planDebit([], 1)).toEqual({ draws: [], shortfall: 1 });
  });

  it('draws exactly the amount, and nothing for zero', () => {
    const buckets = [bucket('kickstart', 5, null)];
    expect(planDebit(buckets, 5)).toEqual({
      draws: [{ kind: 'kickstart', expiresAt: null, amount: 5 }],
      shortfall: 0,
    });
    expect(planDebit(buckets, 0)).toEqual({ draws: [], shortfall: 0 });
  });
});
