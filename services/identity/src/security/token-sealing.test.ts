import { describe, expect, it } from 'vitest';
import { newRefreshToken } from './hashing.js';
import { openWithToken, sealWithToken } from './token-sealing.js';

describe('token sealing', () => {
  it('opens only with the same token and purpose', () => {
    const token = newRefreshToken();
    const sealed = sealWithToken(token, 'install-id', 'install-0001');
    expect(sealed).not.toContain('install-0001');
    expect(openWithToken(token, 'install-id', sealed)).toBe('install-0001');
    expect(openWithToken(newRefreshToken(), 'install-id', sealed)).toBeUndefined();
    expect(openWithToken(token, 'successor', sealed)).toBeUndefined();
  });

  it('refuses altered or truncated ciphertext', () => {
    const token = newRefreshToken();
    const sealed = sealWithToken(token, 'successor', 'next-token');
    const raw = Buffer.from(sealed, 'base64url');
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 1;
    expect(openWithToken(token, 'successor', raw.toString('base64url'))).toBeUndefined();
    expect(openWithToken(token, 'successor', sealed.slice(0, 10))).toBeUndefined();
  });

  it('uses a fresh IV each time', () => {
    const token = newRefreshToken();
    expect(sealWithToken(token, 'install-id', 'x')).not.toBe(sealWithToken(token, 'install-id', 'x'));
  });
});
