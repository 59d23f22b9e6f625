import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A private signing key as stored: a plain JWK, or sealed with the key-encryption key. */
export type StoredPrivateJwk = Record<string, unknown>;

/** What a sealed private JWK looks like in the `private_jwk` column. */
interface SealedJwk {
  sealed: 'A256GCM.v1';
  iv: string;
  data: string;
}

export class SigningKeySealError extends Error {
  override name = 'SigningKeySealError';
}

/**
 * Seals and opens the private halves of the access-token signing keys (ADR 0011). With a key-encryption
 * key (`SIGNING_KEY_ENCRYPTION_KEY`, 32 bytes) a private JWK is stored as AES-256-GCM ciphertext bound to
 * its `kid`, so a copy of the database alone cannot sign tokens. Without one, keys are stored plain (and
 * the service says so at start); a sealed key then cannot be opened, and that is an error, not a
 * fallback. While the KEK changes, the one before it (`SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS`) still opens
 * what it sealed, and `needsResealing` says which stored keys to seal again with the current one.
 */
export interface PrivateKeySealer {
  readonly encrypts: boolean;
  seal(kid: string, jwk: Record<string, unknown>): StoredPrivateJwk;
  open(kid: string, stored: StoredPrivateJwk): Record<string, unknown>;
  isSealed(stored: StoredPrivateJwk): boolean;
  /** Stored plain, or sealed by the previous KEK: to be sealed again with the current one. */
  needsResealing(kid: string, stored: StoredPrivateJwk): boolean;
}

const FORMAT = 'A256GCM.v1';
const AAD_PREFIX = 'offload-identity/signing-key/';

export function isSealedJwk(stored: StoredPrivateJwk): boolean {
  return stored.sealed === FORMAT && typeof stored.iv === 'string' && typeof stored.data === 'string';
}

/** A key-encryption key from its configured form: 32 bytes as base64 or base64url. */
export function parseKeyEncryptionKey(value: string): Buffer | undefined {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === 32 ? bytes : undefined;
}

export function createPrivateKeySealer(
  kek: Buffer | undefined,
  previousKek?: Buffer | undefined,
): PrivateKeySealer {
  for (const key of [kek, previousKek]) {
    if (key !== undefined && key.length !== 32) {
      throw new SigningKeySealError('the signing-key encryption key must be 32 bytes');
    }
  }
  if (previousKek && !kek) {
    throw new SigningKeySealError(
      'SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS needs SIGNING_KEY_ENCRYPTION_KEY (the key to seal with now)',
    );
  }
  const openWith = (key: Buffer, kid: string, stored: StoredPrivateJwk) => {
    try {
      const iv = Buffer.from(stored.iv as string, 'base64url');
      const data = Buffer.from(stored.data as string, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(AAD_PREFIX + kid, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  return {
    encrypts: kek !== undefined,
    isSealed: isSealedJwk,
    seal(kid, jwk) {
      if (!kek) return jwk;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', kek, iv);
      cipher.setAAD(Buffer.from(AAD_PREFIX + kid, 'utf8'));
      const data = Buffer.concat([
        cipher.update(JSON.stringify(jwk), 'utf8'),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      const sealed: SealedJwk = {
        sealed: FORMAT,
        iv: iv.toString('base64url'),
        data: data.toString('base64url'),
      };
      return { ...sealed };
    },
    open(kid, stored) {
      if (!isSealedJwk(stored)) return stored;
      if (!kek) {
        throw new SigningKeySealError(
          `signing key ${kid} is stored encrypted, and SIGNING_KEY_ENCRYPTION_KEY is not set`,
        );
      }
      const opened = openWith(kek, kid, stored) ?? (previousKek && openWith(previousKek, kid, stored));
      if (!opened) {
        throw new SigningKeySealError(
          previousKek
            ? `neither SIGNING_KEY_ENCRYPTION_KEY nor SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS opens signing key ${kid}`
            : `SIGNING_KEY_ENCRYPTION_KEY does not open signing key ${kid}`,
        );
      }
      return opened;
    },
    needsResealing(kid, stored) {
      if (!kek) return false;
      return !isSealedJwk(stored) || openWith(kek, kid, stored) === undefined;
    },
  };
}
