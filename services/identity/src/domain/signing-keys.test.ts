import { describe, expect, it } from 'vitest';
import { isPublished, signingKeyAt } from './signing-keys.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);

describe('signingKeyAt', () => {
  const old = { kid: 'old', activatedAt: t(0), retiredAt: t(600) };
  const next = { kid: 'next', activatedAt: t(600), retiredAt: null };

  it('keeps signing with the old key until the new one activates, then switches exactly then', () => {
    expect(signingKeyAt([old, next], t(599))?.kid).toBe('old');
    expect(signingKeyAt([old, next], t(600))?.kid).toBe('next');
  });

  it('prefers the most recently activated key when rotations overlap', () => {
    const overlap = { kid: 'overlap', activatedAt: t(100), retiredAt: null };
    expect(signingKeyAt([{ ...old, retiredAt: t(900) }, overlap], t(200))?.kid).toBe('overlap');
  });

  it('finds nothing when every key is pending or retired', () => {
    expect(signingKeyAt([{ kid: 'p', activatedAt: t(10), retiredAt: null }], t(5))).toBeUndefined();
    expect(signingKeyAt([{ kid: 'r', activatedAt: t(0), retiredAt: t(5) }], t(5))).toBeUndefined();
  });
});

describe('isPublished', () => {
  it('publishes a key from creation until a token lifetime after its retirement', () => {
    expect(isPublished({ kid: 'pending', activatedAt: t(600), retiredAt: null }, t(0), 900)).toBe(true);
    const retired = { kid: 'r', activatedAt: t(0), retiredAt: t(600) };
    expect(isPublished(retired, t(600 + 899), 900)).toBe(true);
    expect(isPublished(retired, t(600 + 900), 900)).toBe(false);
  });
});
