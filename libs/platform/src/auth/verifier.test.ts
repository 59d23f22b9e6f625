import { randomUUID } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { createTokenVerifier } from './index.js';

let privateKey: CryptoKey;
let publicJwk: JWK;
const kid = 'key-1';

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: 'EdDSA', use: 'sig' };
});

const now = () => Math.floor(Date.now() / 1000);

function sign(
  overrides: {
    iss?: string;
    aud?: string;
    exp?: number;
    nbf?: number;
    kid?: string;
    typ?: string;
    key?: CryptoKey;
  } = {},
) {
  const jwt = new SignJWT({ sid: randomUUID(), tier: 'free', anon: true, did: 'install-0001' })
    .setProtectedHeader({ alg: 'EdDSA', kid: overrides.kid ?? kid, typ: overrides.typ ?? 'at+jwt' })
    .setIssuer(overrides.iss ?? 'offload-cloud/identity')
    .setAudience(overrides.aud ?? 'offload-cloud')
    .setSubject(randomUUID())
    .setJti(randomUUID())
    .setIssuedAt(now() - 10)
    .setExpirationTime(overrides.exp ?? now() + 900);
  if (overrides.nbf !== undefined) jwt.setNotBefore(overrides.nbf);
  return jwt.sign(overrides.key ?? privateKey);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return error instanceof AppError ? error.code : `unexpected ${String(error)}`;
  }
}

describe('createTokenVerifier', () => {
  const jwks = async () => ({ keys: [publicJwk as Record<string, unknown>] });

  it('accepts a valid token and maps its claims', async () => {
    const verifier = createTokenVerifier({ source: jwks });
    const user = await verifier.verify(await sign());
    expect(user).toMatchObject({ tier: 'free', anonymous: true, installId: 'install-0001' });
  });

  it.each([
    ['wrong iss', { iss: 'someone-else' }, 'invalid_token'],
    ['wrong aud', { aud: 'another-api' }, 'invalid_token'],
    ['wrong typ', { typ: 'JWT' }, 'invalid_token'],
    ['nbf in the future', { nbf: now() + 3600 }, 'invalid_token'],
    ['expired', { exp: now() - 60 }, 'expired_token'],
  ])('rejects %s', async (_name, overrides, code) => {
    const verifier = createTokenVerifier({ source: jwks });
    expect(await codeOf(verifier.verify(await sign(overrides)))).toBe(code);
  });

  it('rejects alg: none', async () => {
    const verifier = createTokenVerifier({ source: jwks });
    const valid = await sign();
    const [, payload] = valid.split('.');
    const header = base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'at+jwt' }));
    expect(await codeOf(verifier.verify(`${header}.${payload}.`))).toBe('invalid_token');
  });

  it('rejects an HS256 token signed with the public key as secret', async () => {
    const verifier = createTokenVerifier({ source: jwks });
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const forged = await new SignJWT({ sid: randomUUID(), tier: 'pro', anon: false })
      .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
      .setIssuer('offload-cloud/identity')
      .setAudience('offload-cloud')
      .setSubject(randomUUID())
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(secret);
    expect(await codeOf(verifier.verify(forged))).toBe('invalid_token');
  });

  it('rejects a bad signature (another key with the same kid)', async () => {
    const verifier = createTokenVerifier({ source: jwks });
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    expect(await codeOf(verifier.verify(await sign({ key: other.privateKey })))).toBe('invalid_token');
  });

  it('refetches the key set once for an unknown kid, then accepts the rotated key', async () => {
    const rotated = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const rotatedJwk = { ...(await exportJWK(rotated.publicKey)), kid: 'key-2', alg: 'EdDSA' };
    let fetches = 0;
    let keys = [publicJwk];
    const verifier = createTokenVerifier({
      source: async () => {
        fetches++;
        return { keys: keys as Record<string, unknown>[] };
      },
      refetchCooldownMs: 0,
    });
    await verifier.verify(await sign());
    expect(fetches).toBe(1);
    keys = [publicJwk, rotatedJwk];
    await verifier.verify(await sign({ kid: 'key-2', key: rotated.privateKey }));
    expect(fetches).toBe(2);
    expect(await codeOf(verifier.verify(await sign({ kid: 'key-9' })))).toBe('invalid_token');
  });

  it('caches verified tokens: the key source is read once for many verifications', async () => {
    let fetches = 0;
    const verifier = createTokenVerifier({
      source: async () => {
        fetches++;
        return jwks();
      },
    });
    const token = await sign();
    for (let i = 0; i < 50; i++) await verifier.verify(token);
    expect(fetches).toBe(1);
  });
});
