import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createPrivateKeySealer,
  isSealedJwk,
  parseKeyEncryptionKey,
  SigningKeySealError,
} from './private-key-sealer.js';

const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'public-part', d: 'private-part-that-must-not-show' };

describe('private key sealer', () => {
  it('seals a private JWK so the stored form holds none of it, and opens it again', () => {
    const sealer = createPrivateKeySealer(randomBytes(32));
    const stored = sealer.seal('kid-1', jwk);
    expect(isSealedJwk(stored)).toBe(true);
    expect(JSON.stringify(stored)).not.toContain('private-part');
    expect(JSON.stringify(stored)).not.toContain('Ed25519');
    expect(sealer.open('kid-1', stored)).toEqual(jwk);
    // A fresh IV every time: the same key never seals to the same bytes.
    expect(sealer.seal('kid-1', jwk)).not.toEqual(stored);
  });

  it('refuses another key-encryption key, another kid, and tampered bytes, with a message naming no secret', () => {
    const kek = randomBytes(32);
    const stored = createPrivateKeySealer(kek).seal('kid-1', jwk);
    const attempts = [
      () => createPrivateKeySealer(randomBytes(32)).open('kid-1', stored),
      () => createPrivateKeySealer(kek).open('kid-2', stored),
      () => {
        const data = Buffer.from(stored.data as string, 'base64url');
        data[0] = data[0]! ^ 1;
        return createPrivateKeySealer(kek).open('kid-1', { ...stored, data: data.toString('base64url') });
      },
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(SigningKeySealError);
      try {
        attempt();
      } catch (error) {
        expect((error as Error).message).not.toContain(kek.toString('base64'));
      }
    }
  });

  it('without a key-encryption key: keys stay plain, and a sealed one is an error, never a fallback', () => {
    const plain = createPrivateKeySealer(undefined);
    expect(plain.encrypts).toBe(false);
    expect(plain.seal('kid-1', jwk)).toEqual(jwk);
    expect(plain.open('kid-1', jwk)).toEqual(jwk);
    const sealed = createPrivateKeySealer(randomBytes(32)).seal('kid-1', jwk);
    expect(() => plain.open('kid-1', sealed)).toThrow(
      /stored encrypted, and SIGNING_KEY_ENCRYPTION_KEY is not set/,
    );
  });

  it('opens what the previous key-encryption key sealed, and says which stored keys to seal again', () => {
    const previous = randomBytes(32);
    const current = randomBytes(32);
    const byPrevious = createPrivateKeySealer(previous).seal('kid-1', jwk);
    const sealer = createPrivateKeySealer(current, previous);
    expect(sealer.open('kid-1', byPrevious)).toEqual(jwk);
    const byCurrent = sealer.seal('kid-1', jwk);
    // Sealing always uses the current key.
    expect(createPrivateKeySealer(current).open('kid-1', byCurrent)).toEqual(jwk);
    expect(() => createPrivateKeySealer(previous).open('kid-1', byCurrent)).toThrow(SigningKeySealError);
    expect(sealer.needsResealing('kid-1', byPrevious)).toBe(true);
    expect(sealer.needsResealing('kid-1', jwk)).toBe(true);
    expect(sealer.needsResealing('kid-1', byCurrent)).toBe(false);
    // Without a key-encryption key nothing is sealed, so nothing needs it.
    expect(createPrivateKeySealer(undefined).needsResealing('kid-1', jwk)).toBe(false);
  });

  it('refuses a previous key without a current one, and names neither key when none opens', () => {
    expect(() => createPrivateKeySealer(undefined, randomBytes(32))).toThrow(
      /SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS needs SIGNING_KEY_ENCRYPTION_KEY/,
    );
    const current = randomBytes(32);
    const previous = randomBytes(32);
    const stranger = createPrivateKeySealer(randomBytes(32)).seal('kid-1', jwk);
    const sealer = createPrivateKeySealer(current, previous);
    expect(() => sealer.open('kid-1', stranger)).toThrow(
      /neither SIGNING_KEY_ENCRYPTION_KEY nor SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS opens signing key kid-1/,
    );
    try {
      sealer.open('kid-1', stranger);
    } catch (error) {
      for (const key of [current, previous])
        expect((error as Error).message).not.toContain(key.toString('base64'));
    }
  });

  it('opens a key stored plain before encryption was turned on', () => {
    expect(createPrivateKeySealer(randomBytes(32)).open('kid-1', jwk)).toEqual(jwk);
  });

  it('takes 32 bytes as base64 or base64url, and nothing else', () => {
    const key = randomBytes(32);
    expect(parseKeyEncryptionKey(key.toString('base64'))).toEqual(key);
    expect(parseKeyEncryptionKey(key.toString('base64url'))).toEqual(key);
    expect(parseKeyEncryptionKey(` ${key.toString('base64')}\n`)).toEqual(key);
    expect(parseKeyEncryptionKey(randomBytes(31).toString('base64'))).toBeUndefined();
    expect(parseKeyEncryptionKey(randomBytes(33).toString('base64'))).toBeUndefined();
    expect(parseKeyEncryptionKey('not base64 at all!')).toBeUndefined();
    expect(() => createPrivateKeySealer(randomBytes(16))).toThrow(SigningKeySealError);
  });
});
