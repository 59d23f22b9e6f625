import { describe, expect, it } from 'vitest';
import { createInferenceLimiter, createSlidingWindow } from './inference-limiter.js';

describe('sliding window', () => {
  it('allows `limit` calls in a window and refuses the next, until the oldest leaves the window', () => {
    const window = createSlidingWindow({ limit: 3, windowMs: 60_000 });
    for (const t of [0, 10_000, 20_000]) {
      expect(window.check('k', t)).toEqual({ allowed: true });
      window.record('k', t);
    }
    expect(window.check('k', 30_000)).toEqual({ allowed: false, retryAfterMs: 30_000 });
    expect(window.check('k', 59_999)).toEqual({ allowed: false, retryAfterMs: 1 });
    expect(window.check('k', 60_000)).toEqual({ allowed: true });
  });

  it('does not allow a second full burst right after a window boundary (unlike fixed windows)', () => {
    const window = createSlidingWindow({ limit: 2, windowMs: 60_000 });
    window.record('k', 59_000);
    window.record('k', 59_500);
    expect(window.check('k', 60_500).allowed).toBe(false);
    expect(window.check('k', 119_001).allowed).toBe(true);
  });

  it('keeps keys apart and forgets empty ones', () => {
    const window = createSlidingWindow({ limit: 1, windowMs: 1_000 });
    window.record('a', 0);
    expect(window.check('a', 1).allowed).toBe(false);
    expect(window.check('b', 1).allowed).toBe(true);
    expect(window.size()).toBe(1);
    expect(window.check('a', 1_000).allowed).toBe(true);
    expect(window.size()).toBe(0);
  });

  it('bounds the number of keys it remembers', () => {
    const window = createSlidingWindow({ limit: 1, windowMs: 60_000, maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd']) window.record(key, 0);
    expect(window.size()).toBe(3);
    expect(window.check('a', 1).allowed).toBe(true);
    expect(window.check('d', 1).allowed).toBe(false);
  });
});

describe('inference limiter: 20/min per install id, 120/min per IP', () => {
  const limiter = () => createInferenceLimiter({ perInstall: 20, perIp: 120, windowMs: 60_000 });

  it('allows the 20th call of an install id in a minute and refuses the 21st', () => {
    const l = limiter();
    for (let i = 0; i < 20; i++) {
      expect(l.tryAcquire({ installId: 'install-1', ip: `10.0.0.${i}` }, i * 100).allowed).toBe(true);
    }
    const refused = l.tryAcquire({ installId: 'install-1', ip: '10.0.1.1' }, 2_000);
    expect(refused).toEqual({ allowed: false, retryAfterMs: 58_000 });
    expect(l.tryAcquire({ installId: 'install-2', ip: '10.0.1.1' }, 2_000).allowed).toBe(true);
  });

  it('allows the 120th call of an IP in a minute and refuses the 121st', () => {
    const l = limiter();
    for (let i = 0; i < 120; i++) {
      expect(l.tryAcquire({ installId: `install-${i}`, ip: '203.0.113.9' }, i).allowed).toBe(true);
    }
    expect(l.tryAcquire({ installId: 'install-new', ip: '203.0.113.9' }, 500)).toEqual({
      allowed: false,
      retryAfterMs: 59_500,
    });
    expect(l.tryAcquire({ installId: 'install-new', ip: '203.0.113.10' }, 500).allowed).toBe(true);
  });

  it('counts nothing for a refused call: an IP refusal does not use up the install id', () => {
    const l = createInferenceLimiter({ perInstall: 2, perIp: 1, windowMs: 60_000 });
    expect(l.tryAcquire({ installId: 'i', ip: 'a' }, 0).allowed).toBe(true);
    for (let n = 0; n < 5; n++) expect(l.tryAcquire({ installId: 'i', ip: 'a' }, 1).allowed).toBe(false);
    expect(l.tryAcquire({ installId: 'i', ip: 'b' }, 2).allowed).toBe(true);
  });
});
