import { describe, expect, it } from 'vitest';
import { refillPerSecond, retryAfterSeconds } from './rate-limit.js';

describe('session rate limit buckets', () => {
  const perIp = { limit: 8, windowSeconds: 60 };

  it('refill the whole limit over the window', () => {
    expect(refillPerSecond(perIp) * 60).toBeCloseTo(8);
  });

  it('tell the client how long until one more call fits, at least a second', () => {
    expect(retryAfterSeconds(0, perIp)).toBe(8);
    expect(retryAfterSeconds(0.5, perIp)).toBe(4);
    expect(retryAfterSeconds(0.99, perIp)).toBe(1);
    expect(retryAfterSeconds(0, { limit: 4, windowSeconds: 60 })).toBe(15);
  });
});
