import { describe, expect, it } from 'vitest';
import { creditsLockKey, planSettle, sameReservation, type ReservationStatus } from './reservation.js';

describe('planSettle', () => {
  it('applies to a live hold', () => {
    expect(planSettle({ status: 'held', pastExpiry: false })).toEqual({ apply: true });
  });

  it('answers expired for a hold past its TTL and marks it', () => {
    expect(planSettle({ status: 'held', pastExpiry: true })).toEqual({
      apply: false,
      status: 'expired',
      markExpired: true,
    });
    expect(planSettle({ status: 'expired', pastExpiry: true })).toEqual({
      apply: false,
      status: 'expired',
      markExpired: false,
    });
  });

  it('answers repeats with already_*, whatever the TTL', () => {
    for (const pastExpiry of [false, true]) {
      expect(planSettle({ status: 'committed', pastExpiry })).toMatchObject({
        apply: false,
        status: 'already_committed',
      });
      expect(planSettle({ status: 'released', pastExpiry })).toMatchObject({
        apply: false,
        status: 'already_released',
      });
    }
  });

  it('answers unknown for an id never reserved and for a denied reserve (nothing was held)', () => {
    expect(planSettle(undefined)).toMatchObject({ apply: false, status: 'unknown' });
    expect(planSettle({ status: 'denied', pastExpiry: false })).toMatchObject({
      apply: false,
      status: 'unknown',
    });
  });

  it('never applies to anything but a live hold', () => {
    const statuses: ReservationStatus[] = ['held', 'committed', 'released', 'expired', 'denied'];
    for (const status of statuses)
      for (const pastExpiry of [false, true])
        expect(planSettle({ status, pastExpiry }).apply).toBe(status === 'held' && !pastExpiry);
  });
});

describe('sameReservation', () => {
  const base = {
    userId: 'u',
    kind: 'meter' as const,
    feature: 'ai_breakdown',
    installIdHash: 'h',
    amount: 1,
  };
  it('is the same only when user, resource and amount match', () => {
    expect(sameReservation(base, { ...base })).toBe(true);
    expect(sameReservation(base, { ...base, userId: 'v' })).toBe(false);
    expect(sameReservation(base, { ...base, amount: 2 })).toBe(false);
    expect(sameReservation(base, { ...base, installIdHash: 'g' })).toBe(false);
    expect(sameReservation(base, { ...base, feature: 'other' })).toBe(false);
    expect(sameReservation(base, { ...base, kind: 'credits', feature: null, installIdHash: null })).toBe(
      false,
    );
  });
});

describe('creditsLockKey', () => {
  it('is per user', () => {
    expect(creditsLockKey('u1')).toBe('usage:credits:u1');
    expect(creditsLockKey('u2')).not.toBe(creditsLockKey('u1'));
  });
});
