import { describe, expect, it } from 'vitest';
import { decideCreditHold, decideMeterHold, isExhausted, monthlyQuota, remainingOf } from './quota.js';

describe('monthlyQuota', () => {
  it('is the tier’s number', () => {
    const policy = { free: 100, pro: 1000 };
    expect(monthlyQuota(policy, 'free')).toBe(100);
    expect(monthlyQuota(policy, 'pro')).toBe(1000);
  });
});

describe('remainingOf', () => {
  it('is quota minus used and held, never below zero', () => {
    expect(remainingOf(100, 0)).toBe(100);
    expect(remainingOf(100, 99)).toBe(1);
    expect(remainingOf(100, 100)).toBe(0);
    expect(remainingOf(100, 150)).toBe(0);
    expect(remainingOf(100, 90, 5)).toBe(5);
    expect(remainingOf(100, 90, 20)).toBe(0);
  });
});

describe('decideMeterHold', () => {
  it('grants the last unit of the quota and denies one past it', () => {
    expect(decideMeterHold({ quota: 100, used: 99, held: 0, amount: 1 })).toEqual({
      granted: true,
      remaining: 0,
    });
    expect(decideMeterHold({ quota: 100, used: 100, held: 0, amount: 1 })).toEqual({
      granted: false,
      remaining: 0,
    });
  });

  it('counts active holds like used units', () => {
    expect(decideMeterHold({ quota: 100, used: 98, held: 1, amount: 1 })).toEqual({
      granted: true,
      remaining: 0,
    });
    expect(decideMeterHold({ quota: 100, used: 98, held: 2, amount: 1 })).toEqual({
      granted: false,
      remaining: 0,
    });
  });

  it('denies an amount larger than what is left, reporting what is left', () => {
    expect(decideMeterHold({ quota: 100, used: 95, held: 0, amount: 6 })).toEqual({
      granted: false,
      remaining: 5,
    });
    expect(decideMeterHold({ quota: 100, used: 95, held: 0, amount: 5 })).toEqual({
      granted: true,
      remaining: 0,
    });
  });

  it('denies everything with a quota of 0', () => {
    expect(decideMeterHold({ quota: 0, used: 0, held: 0, amount: 1 }).granted).toBe(false);
  });
});

describe('decideCreditHold', () => {
  it('grants up to the balance minus other holds and denies one credit more', () => {
    expect(decideCreditHold({ balance: 5, held: 2, amount: 3 })).toEqual({ granted: true, remaining: 0 });
    expect(decideCreditHold({ balance: 5, held: 2, amount: 4 })).toEqual({ granted: false, remaining: 3 });
    expect(decideCreditHold({ balance: 0, held: 0, amount: 1 })).toEqual({ granted: false, remaining: 0 });
  });
});

describe('isExhausted', () => {
  it('is reached at the quota, not one before', () => {
    expect(isExhausted(100, 99)).toBe(false);
    expect(isExhausted(100, 100)).toBe(true);
    expect(isExhausted(100, 101)).toBe(true);
  });
  it('needs something counted: an unused feature with quota 0 is not announced', () => {
    expect(isExhausted(0, 0)).toBe(false);
    expect(isExhausted(0, 1)).toBe(true);
  });
});
