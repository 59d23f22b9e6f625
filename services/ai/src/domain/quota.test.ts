import { describe, expect, it } from 'vitest';
import { RETRY_POLICY } from './retry-policy.js';
import { reservationTtlMs, secondsUntilNextUtcMonth } from './quota.js';

describe('quota helpers', () => {
  it('counts the seconds to the next UTC month, across year ends', () => {
    expect(secondsUntilNextUtcMonth(Date.parse('2026-01-31T23:59:59Z'))).toBe(1);
    expect(secondsUntilNextUtcMonth(Date.parse('2026-12-31T23:00:00Z'))).toBe(3_600);
    expect(secondsUntilNextUtcMonth(Date.parse('2026-02-01T00:00:00Z'))).toBe(28 * 86_400);
  });

  it('holds a reservation longer than the slowest call, within usage’s 15 min cap', () => {
    const ttl = reservationTtlMs(20_000, RETRY_POLICY.maxAttempts, RETRY_POLICY.maxTotalDelayMs);
    expect(ttl).toBeGreaterThan(3 * 20_000 + 4_000);
    expect(reservationTtlMs(300_000, 3, 4_000)).toBe(15 * 60_000);
  });
});
