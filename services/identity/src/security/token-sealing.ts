import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/** What a refresh-token row seals: the session's install id, or the token that replaced this one. */
export type SealPurpose = 'install-id' | 'successor';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A 256-bit key only the holder of `token` can derive (HMAC-SHA-256 keyed by the token). */
function keyFor(token: string, purpose: SealPurpose): Buffer {
  return createHmac('sha256', token).update(`offload-identity/refresh-seal/${purpose}/v1`).digest();
}

/**
 * Encrypts `plaintext` (AES-256-GCM) under a key derived from a refresh token. The database keeps only
 * the token's SHA-256, from which the key cannot be derived: a sealed value opens only for whoever
 * presents the token itself (ADR 0009).
 */
export function sealWithToken(token: string, purpose: SealPurpose, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(token, purpose), iv);
  cipher.setAAD(Buffer.from(purpose, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The sealed value, or undefined when `token` is not the one it was sealed with (or it was altered). */
export function openWithToken(token: string, purpose: SealPurpose, sealed: string): string | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', keyFor(token, purpose), raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(purpose, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return undefined;
  }
}
