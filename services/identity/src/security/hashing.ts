import { createHash, randomBytes } from 'node:crypto';

/** SHA-256 as lowercase hex: how install ids and refresh tokens are kept at rest. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** The first 12 hex characters of the SHA-256: how install ids (and client IPs) appear in logs. */
export function shortHash(value: string): string {
  return sha256Hex(value).slice(0, 12);
}

/** An opaque refresh token: 256 random bits, base64url (43 characters). */
export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}
