import { describe, expect, it } from 'vitest';
import { localCountApplies, nextPeriodStart, periodOf, periodStart, SINCE_TOLERANCE_MS } from './period.js';

const at = (iso: string) => new Date(iso);

describe('periodOf', () => {
  it('is the UTC month as YYYY-MM', () => {
    expect(periodOf(at('2026-03-14T15:09:26.535Z'))).toBe('2026-03');
    expect(periodOf(at('2026-11-01T00:00:00Z'))).toBe('2026-11');
  });

  it('turns over at 00:00 UTC on the 1st, not a millisecond earlier', () => {
    expect(periodOf(at('2026-01-31T23:59:59.999Z'))).toBe('2026-01');
    expect(periodOf(at('2026-02-01T00:00:00.000Z'))).toBe('2026-02');
  });

  it('turns over the year at New Year UTC', () => {
    expect(periodOf(at('2026-12-31T23:59:59.999Z'))).toBe('2026-12');
    expect(periodOf(at('2027-01-01T00:00:00.000Z'))).toBe('2027-01');
  });

  it('ignores the offset a time was written with: only the UTC instant counts', () => {
    // 00:30 on March 1st in Berlin is still February in UTC; 23:30 on Feb 28th in New York is March.
    expect(periodOf(at('2026-03-01T00:30:00+01:00'))).toBe('2026-02');
    expect(periodOf(at('2026-02-28T23:30:00-05:00'))).toBe('2026-03');
  });

  it('handles leap years', () => {
    expect(periodOf(at('2028-02-29T23:59:59.999Z'))).toBe('2028-02');
    expect(periodOf(at('2028-03-01T00:00:00Z'))).toBe('2028-03');
  });
});

describe('periodStart and nextPeriodStart', () => {
  it('bound the UTC month', () => {
    expect(periodStart(at('2026-03-14T15:00:00Z')).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(nextPeriodStart(at('2026-03-14T15:00:00Z')).toISOString()).toBe('2026-04-01T00:00:00.000Z');
  });

  it('roll over the year', () => {
    expect(nextPeriodStart(at('2026-12-31T23:59:59.999Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(periodStart(at('2027-01-01T00:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('keep a month’s instant inside [start, next start)', () => {
    const instant = at('2026-02-01T00:00:00Z');
    expect(periodStart(instant).getTime()).toBe(instant.getTime());
    expect(nextPeriodStart(instant).toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });
});

describe('localCountApplies', () => {
  const now = at('2026-03-10T12:00:00Z');
  const monthStart = at('2026-03-01T00:00:00Z').getTime();

  it('applies without since, and with a since inside this month or in the future', () => {
    expect(localCountApplies(undefined, now)).toBe(true);
    expect(localCountApplies(at('2026-03-01T00:00:00Z'), now)).toBe(true);
    expect(localCountApplies(at('2026-03-09T00:00:00Z'), now)).toBe(true);
    expect(localCountApplies(at('2026-04-01T00:00:00Z'), now)).toBe(true);
  });

  it('applies for a client whose month started up to 14 h before UTC (time zones up to UTC+14)', () => {
    expect(localCountApplies(new Date(monthStart - SINCE_TOLERANCE_MS), now)).toBe(true);
    expect(localCountApplies(at('2026-02-28T22:00:00Z'), now)).toBe(true);
  });

  it('does not apply a count whose window began earlier: it spans two months', () => {
    expect(localCountApplies(new Date(monthStart - SINCE_TOLERANCE_MS - 1), now)).toBe(false);
    expect(localCountApplies(at('2026-02-01T00:00:00Z'), now)).toBe(false);
    expect(localCountApplies(at('2025-12-01T00:00:00Z'), at('2026-01-05T00:00:00Z'))).toBe(false);
  });
});
