import type { Jwks } from '@offload/contracts';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import type { NewSigningKey, SigningKeyRepository, SigningKeyRow } from '../db/signing-key-repository.js';
import { isPublished, signingKeyAt } from '../domain/signing-keys.js';
import type { PrivateKeySealer } from './private-key-sealer.js';

export const SIGNING_ALG = 'EdDSA';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

/** The keys access tokens are signed with, and the public key set other services verify them against. */
export interface SigningKeyRing {
  /** The key that signs now, as of the last load. */
  readonly active: SigningKey;
  /** The key that signs at `now`, re-reading the stored keys first when the last read is stale. */
  signingKey(now?: Date): Promise<SigningKey>;
  /** Public keys only (`kty`, `crv`, `x`, `kid`, `alg`, `use`): pending, active and recently retired. */
  jwks(): Promise<Jwks>;
  /** Re-reads the stored keys now (after a rotation, or in tests after moving time). */
  reload(): Promise<void>;
}

/**
 * A new Ed25519 key pair as JWKs; the `kid` is the RFC 7638 thumbprint of the public key. The private
 * half comes sealed when the sealer encrypts.
 */
export async function generateSigningKey(sealer: PrivateKeySealer): Promise<NewSigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    alg: SIGNING_ALG,
    publicJwk: { ...publicJwk },
    privateJwk: sealer.seal(kid, { ...privateJwk }),
  };
}

/** Only the public members of an OKP key ever leave the service, whatever else the stored JWK holds. */
function publicJwkOf(kid: string, alg: string, jwk: Record<string, unknown>): Record<string, unknown> {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg, use: 'sig' };
}

/**
 * Loads the signing keys from the identity schema, creating the first one on the very first start, so a
 * restart (or another replica) signs with the same key and earlier tokens still verify. The stored keys
 * are re-read every `refreshMs`, so every replica starts signing with a rotated key at its activation
 * time and keeps retired keys published for `retiredKeyGraceSeconds` (the access-token lifetime).
 */
export async function loadSigningKeyRing(deps: {
  signingKeyRepository: SigningKeyRepository;
  /** Opens sealed private keys; with a key-encryption key it also seals keys stored plain before. */
  sealer: PrivateKeySealer;
  retiredKeyGraceSeconds: number;
  refreshMs?: number;
}): Promise<SigningKeyRing> {
  const refreshMs = deps.refreshMs ?? 30_000;
  const privateKeys = new Map<string, CryptoKey>();
  let rows: SigningKeyRow[] = [];
  let loadedAt = 0;
  let inflight: Promise<void> | undefined;

  const load = async () => {
    const now = new Date();
    const fresh = await deps.signingKeyRepository.listUsable(
      new Date(now.getTime() - deps.retiredKeyGraceSeconds * 1000),
    );
    for (const row of fresh) {
      if (!privateKeys.has(row.kid)) {
        const jwk = deps.sealer.open(row.kid, row.privateJwk) as JWK;
        privateKeys.set(row.kid, (await importJWK(jwk, row.alg)) as CryptoKey);
      }
    }
    rows = fresh;
    loadedAt = Date.now();
  };
  const reload = (): Promise<void> => {
    inflight ??= load().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
  const fresh = async () => {
    if (Date.now() - loadedAt < refreshMs) return;
    // A failed re-read keeps the keys already loaded: signing must not depend on every query succeeding.
    await reload().catch((error) => {
      if (rows.length === 0) throw error;
    });
  };
  const keyAt = (now: Date): SigningKey => {
    const row = signingKeyAt(rows, now);
    if (!row) throw new Error('no signing key is active');
    return { kid: row.kid, privateKey: privateKeys.get(row.kid)! };
  };

  await deps.signingKeyRepository.ensureSigningKey(() => generateSigningKey(deps.sealer));
  if (deps.sealer.encrypts) {
    // Keys stored plain, or sealed by the previous key-encryption key, are sealed with the current one.
    await deps.signingKeyRepository.resealKeys(
      (key) => deps.sealer.needsResealing(key.kid, key.privateJwk),
      (key) => deps.sealer.seal(key.kid, deps.sealer.open(key.kid, key.privateJwk)),
    );
  }
  await reload();

  return {
    get active() {
      return keyAt(new Date());
    },
    async signingKey(now = new Date()) {
      await fresh();
      return keyAt(now);
    },
    async jwks() {
      await fresh();
      const now = new Date();
      return {
        keys: rows
          .filter((r) => isPublished(r, now, deps.retiredKeyGraceSeconds))
          .map((r) => publicJwkOf(r.kid, r.alg, r.publicJwk)),
      };
    },
    reload,
  };
}
