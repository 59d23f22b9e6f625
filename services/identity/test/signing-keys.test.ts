import { randomBytes, randomUUID } from 'node:crypto';
import type { TokenBundle } from '@offload/contracts';
import { createTokenVerifier, natsJwksSource } from '@offload/platform/auth';
import { createLogger } from '@offload/platform/logger';
import { connectBus, type Bus } from '@offload/platform/nats';
import { createTestInfra, type TestInfra } from '@offload/testing';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIdentityApp } from '../src/app.js';
import { loadIdentityConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createIdentityRuntime, type IdentityRuntime } from '../src/deps.js';
import { rotateSigningKey } from '../src/use-cases/rotate-signing-key.js';

let infra: TestInfra;
let bus: Bus;
const logger = createLogger({ service: 'identity', level: 'silent' });
const open: IdentityRuntime[] = [];

beforeAll(async () => {
  infra = await createTestInfra();
  await migrate(infra.databaseUrl);
  bus = await connectBus({ url: infra.natsUrl, name: 'keys-test', prefix: infra.natsPrefix, logger });
});

afterAll(async () => {
  for (const runtime of open) await runtime.close().catch(() => undefined);
  await bus?.close();
  await infra?.cleanup();
});

const config = (extra: Record<string, string> = {}) =>
  loadIdentityConfig({
    DATABASE_URL: infra.databaseUrl,
    NATS_URL: infra.natsUrl,
    NATS_SUBJECT_PREFIX: infra.natsPrefix,
    SESSION_RATE_LIMIT_PER_IP: '100000',
    ...extra,
  });

async function startRuntime(extra: Record<string, string> = {}) {
  const runtime = await createIdentityRuntime(config(extra), { logger });
  open.push(runtime);
  return runtime;
}

async function stopRuntime(runtime: IdentityRuntime) {
  open.splice(open.indexOf(runtime), 1);
  await runtime.close();
}

function keyRows(runtime: IdentityRuntime) {
  return runtime.database.sql<{ kid: string; active: boolean }[]>`
    select kid, (activated_at is not null and retired_at is null) as active from identity.signing_keys`;
}

async function anonymousSession(runtime: IdentityRuntime): Promise<TokenBundle> {
  const app = await buildIdentityApp(runtime);
  try {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/sessions/anonymous',
      payload: { install_id: randomUUID(), app_version: '1.0.0', platform: 'web' },
    });
    expect(res.statusCode).toBe(201);
    return res.json();
  } finally {
    await app.close();
  }
}

describe('signing keys persisted in the identity schema', () => {
  it('ends with exactly one active key when two runtimes start at once on a fresh database', async () => {
    const [a, b] = await Promise.all([startRuntime(), startRuntime()]);
    expect(a!.keyRing.active.kid).toBe(b!.keyRing.active.kid);
    const rows = await keyRows(a!);
    expect(rows).toEqual([{ kid: a!.keyRing.active.kid, active: true }]);
    // A token from one replica verifies against the other's keys.
    const bundle = await anonymousSession(a!);
    const verifier = createTokenVerifier({ source: () => b!.keyRing.jwks() });
    await expect(verifier.verify(bundle.session_token)).resolves.toMatchObject({ userId: bundle.user_id });
    await stopRuntime(a!);
    await stopRuntime(b!);
  });

  it('still verifies tokens issued before a restart, and keeps signing with the same key', async () => {
    const before = await startRuntime();
    const old = await anonymousSession(before);
    await stopRuntime(before);

    const after = await startRuntime();
    expect(after.keyRing.active.kid).toBe(decodeProtectedHeader(old.session_token).kid);
    // Over NATS, as other services see it, and through the restarted service's own routes.
    const verifier = createTokenVerifier({ source: natsJwksSource(bus) });
    await expect(verifier.verify(old.session_token)).resolves.toMatchObject({ userId: old.user_id });
    const app = await buildIdentityApp(after);
    const me = await app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: `Bearer ${old.session_token}` },
    });
    await app.close();
    expect(me.statusCode).toBe(200);
    expect(me.json().id).toBe(old.user_id);
    const fresh = await anonymousSession(after);
    expect(decodeProtectedHeader(fresh.session_token).kid).toBe(after.keyRing.active.kid);
    expect(await keyRows(after)).toHaveLength(1);
    await stopRuntime(after);
  });

  it('issues tokens for ACCESS_TOKEN_TTL_SECONDS', async () => {
    const runtime = await startRuntime({ ACCESS_TOKEN_TTL_SECONDS: '120' });
    const bundle = await anonymousSession(runtime);
    const claims = decodeJwt(bundle.session_token);
    expect(claims.exp! - claims.iat!).toBe(120);
    await stopRuntime(runtime);
  });
});

describe('private signing keys encrypted at rest (SIGNING_KEY_ENCRYPTION_KEY)', () => {
  const kek = randomBytes(32).toString('base64');

  function storedPrivateKeys(runtime: IdentityRuntime) {
    return runtime.database.sql<{ kid: string; private_jwk: Record<string, unknown> }[]>`
      select kid, private_jwk from identity.signing_keys`;
  }

  it('seals the keys stored plain before, keeps signing with the same key, and stores no private member', async () => {
    // The previous tests left a key stored plain: turning encryption on seals it in place.
    const plainBefore = await startRuntime();
    const old = await anonymousSession(plainBefore);
    const plainRows = await storedPrivateKeys(plainBefore);
    expect(plainRows.every((r) => typeof r.private_jwk.d === 'string')).toBe(true);
    const privateMembers = plainRows.map((r) => r.private_jwk.d as string);
    await stopRuntime(plainBefore);

    const sealed = await startRuntime({ SIGNING_KEY_ENCRYPTION_KEY: kek });
    const rows = await storedPrivateKeys(sealed);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(Object.keys(row.private_jwk).sort()).toEqual(['data', 'iv', 'sealed']);
      for (const d of privateMembers) expect(JSON.stringify(row.private_jwk)).not.toContain(d);
    }
    // The same key signs, and tokens issued before still verify.
    expect(sealed.keyRing.active.kid).toBe(decodeProtectedHeader(old.session_token).kid);
    const verifier = createTokenVerifier({ source: () => sealed.keyRing.jwks() });
    await expect(verifier.verify(old.session_token)).resolves.toMatchObject({ userId: old.user_id });
    const fresh = await anonymousSession(sealed);
    await expect(verifier.verify(fresh.session_token)).resolves.toMatchObject({ userId: fresh.user_id });

    // A rotated key is sealed from the start.
    const rotation = await rotateSigningKey(
      { signingKeyRepository: sealed.signingKeyRepository, sealer: sealed.sealer },
      { activationDelaySeconds: 0 },
    );
    const rotated = (await storedPrivateKeys(sealed)).find((r) => r.kid === rotation.kid)!;
    expect(rotated.private_jwk.sealed).toBe('A256GCM.v1');
    await sealed.keyRing.reload();
    expect(sealed.keyRing.active.kid).toBe(rotation.kid);
    await stopRuntime(sealed);
  });

  it('refuses to start with another key, or with none, once the keys are sealed', async () => {
    await expect(
      startRuntime({ SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') }),
    ).rejects.toThrow(/SIGNING_KEY_ENCRYPTION_KEY does not open signing key/);
    await expect(startRuntime()).rejects.toThrow(
      /stored encrypted, and SIGNING_KEY_ENCRYPTION_KEY is not set/,
    );
    // The right key still works.
    const runtime = await startRuntime({ SIGNING_KEY_ENCRYPTION_KEY: kek });
    await anonymousSession(runtime);
    await stopRuntime(runtime);
  });

  it('changes the key-encryption key in place: with the previous one given, every key is sealed again', async () => {
    const before = await startRuntime({ SIGNING_KEY_ENCRYPTION_KEY: kek });
    const old = await anonymousSession(before);
    const sealedBefore = new Map((await storedPrivateKeys(before)).map((r) => [r.kid, r.private_jwk.data]));
    await stopRuntime(before);

    const next = randomBytes(32).toString('base64');
    const during = await startRuntime({
      SIGNING_KEY_ENCRYPTION_KEY: next,
      SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS: kek,
    });
    const rows = await storedPrivateKeys(during);
    expect(rows.map((r) => r.kid).sort()).toEqual([...sealedBefore.keys()].sort());
    for (const row of rows) {
      expect(row.private_jwk.sealed).toBe('A256GCM.v1');
      expect(row.private_jwk.data).not.toBe(sealedBefore.get(row.kid));
    }
    // Same keys: the active one keeps signing, and tokens issued before still verify.
    const verifier = createTokenVerifier({ source: () => during.keyRing.jwks() });
    await expect(verifier.verify(old.session_token)).resolves.toMatchObject({ userId: old.user_id });
    expect(during.keyRing.active.kid).toBe(decodeProtectedHeader(old.session_token).kid);
    await stopRuntime(during);

    // Afterwards the new key alone opens every key, and the old one alone none.
    const after = await startRuntime({ SIGNING_KEY_ENCRYPTION_KEY: next });
    await anonymousSession(after);
    await stopRuntime(after);
    await expect(startRuntime({ SIGNING_KEY_ENCRYPTION_KEY: kek })).rejects.toThrow(
      /SIGNING_KEY_ENCRYPTION_KEY does not open signing key/,
    );
    // A previous key that is not the one the keys were sealed with does not help.
    await expect(
      startRuntime({
        SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS: kek,
      }),
    ).rejects.toThrow(/neither SIGNING_KEY_ENCRYPTION_KEY nor SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS opens/);
    // Back to the key the rest of this file uses.
    const back = await startRuntime({
      SIGNING_KEY_ENCRYPTION_KEY: kek,
      SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS: next,
    });
    await stopRuntime(back);
  });

  it('rejects a key of the wrong size at start, without printing it', () => {
    const short = randomBytes(16).toString('base64');
    for (const name of ['SIGNING_KEY_ENCRYPTION_KEY', 'SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS']) {
      expect(() => config({ [name]: short })).toThrow(new RegExp(name));
      try {
        config({ [name]: short });
      } catch (error) {
        expect((error as Error).message).not.toContain(short);
      }
    }
  });
});
