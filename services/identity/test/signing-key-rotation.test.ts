import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TokenBundle } from '@offload/contracts';
import { createTokenVerifier, natsJwksSource } from '@offload/platform/auth';
import type { Bus } from '@offload/platform/nats';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateSigningKey } from '../src/use-cases/rotate-signing-key.js';
import { anonymousSession, connectTestBus, getMe, startIdentity, type IdentityUnderTest } from './support.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

let identity: IdentityUnderTest;
let bus: Bus;

beforeAll(async () => {
  identity = await startIdentity({ env: { SESSION_RATE_LIMIT_PER_IP: '100000' } });
  bus = await connectTestBus(identity.infra);
});

afterAll(async () => {
  await bus?.close();
  await identity?.close();
});

const sql = () => identity.runtime.database.sql;
const ring = () => identity.runtime.keyRing;

async function issue(): Promise<TokenBundle> {
  return (await anonymousSession(identity.app)).bundle!;
}
const kidOf = (bundle: TokenBundle) => decodeProtectedHeader(bundle.session_token).kid;
const publishedKids = async () => (await ring().jwks()).keys.map((k) => k.kid as string);

/** Moves the rotation into the past: the new key activated, the old one retired, `secondsAgo` ago. */
async function rotationHappened(oldKid: string, newKid: string, secondsAgo: number) {
  await sql()`update identity.signing_keys set activated_at = now() - make_interval(secs => ${secondsAgo})
    where kid = ${newKid}`;
  await sql()`update identity.signing_keys set retired_at = now() - make_interval(secs => ${secondsAgo})
    where kid = ${oldKid}`;
  await ring().reload();
}

describe('signing-key rotation', () => {
  it('key rotation: the new key is published at once, signs only after the delay, and the old one stays until its tokens expired', async () => {
    const before = await issue();
    const oldKid = kidOf(before)!;
    const rotation = await rotateSigningKey(
      { signingKeyRepository: identity.runtime.signingKeyRepository, sealer: identity.runtime.sealer },
      { activationDelaySeconds: 600 },
    );
    expect(rotation.retiring).toEqual([{ kid: oldKid, retiresAt: rotation.activatesAt }]);
    await ring().reload();

    // Published before it signs: in the JWKS (HTTP and NATS) now, while tokens still carry the old kid.
    expect(await publishedKids()).toEqual([oldKid, rotation.kid]);
    const route = await identity.app.inject({ method: 'GET', url: '/v1/.well-known/jwks.json' });
    expect(route.json().keys.map((k: { kid: string }) => k.kid)).toEqual([oldKid, rotation.kid]);
    const pending = await issue();
    expect(kidOf(pending)).toBe(oldKid);
    expect(ring().active.kid).toBe(oldKid);

    // A replica starting during the pending window keeps signing with the current key.
    const replica = await startIdentity({
      infra: identity.infra,
      migrate: false,
      env: { SESSION_RATE_LIMIT_PER_IP: '100000' },
    });
    expect(replica.runtime.keyRing.active.kid).toBe(oldKid);
    await replica.close();

    // At activation time the new key signs; the old key's tokens still verify.
    await rotationHappened(oldKid, rotation.kid, 1);
    const after = await issue();
    expect(kidOf(after)).toBe(rotation.kid);
    expect(await publishedKids()).toEqual([oldKid, rotation.kid]);
    const verifier = createTokenVerifier({ source: natsJwksSource(bus), refetchCooldownMs: 0 });
    for (const bundle of [before, pending, after]) {
      await expect(verifier.verify(bundle.session_token)).resolves.toMatchObject({ userId: bundle.user_id });
      expect((await getMe(identity.app, bundle.session_token)).statusCode).toBe(200);
    }

    // Once every token the old key signed has expired (retired + 15 min), it leaves the JWKS.
    await rotationHappened(oldKid, rotation.kid, 900 + 1);
    expect(await publishedKids()).toEqual([rotation.kid]);
    const fresh = createTokenVerifier({ source: natsJwksSource(bus) });
    await expect(fresh.verify(before.session_token)).rejects.toMatchObject({ code: 'invalid_token' });
    await expect(fresh.verify(after.session_token)).resolves.toMatchObject({ userId: after.user_id });
  });

  it('npm run -w services/identity keys:rotate adds a pending key to the configured database', async () => {
    const current = ring().active.kid;
    const { stdout } = await run(
      'npm',
      ['run', '--silent', '-w', 'services/identity', 'keys:rotate', '--', '--activate-in', '120'],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          DATABASE_URL: identity.infra.databaseUrl,
          KEY_ACTIVATION_DELAY_SECONDS: '600',
        },
        timeout: 60_000,
      },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      kid: string;
      activates_at: string;
      retiring: { kid: string; retires_at: string; unpublished_after: string }[];
    };
    const delay = Date.parse(result.activates_at) - Date.now();
    expect(delay).toBeGreaterThan(100_000);
    expect(delay).toBeLessThanOrEqual(120_000);
    expect(result.retiring).toEqual([
      {
        kid: current,
        retires_at: result.activates_at,
        unpublished_after: new Date(Date.parse(result.activates_at) + 900_000).toISOString(),
      },
    ]);
    const [row] = await sql()<{ activated_at: string; retired_at: string | null }[]>`
      select activated_at, retired_at from identity.signing_keys where kid = ${result.kid}`;
    expect(row).toMatchObject({ retired_at: null });
    expect(Date.parse(row!.activated_at)).toBe(Date.parse(result.activates_at));
    await ring().reload();
    expect(await publishedKids()).toContain(result.kid);
    expect(kidOf(await issue())).toBe(current);

    // Without the flag the configured delay applies; a bad flag is refused.
    const defaulted = await run('npm', ['run', '--silent', '-w', 'services/identity', 'keys:rotate'], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: identity.infra.databaseUrl, KEY_ACTIVATION_DELAY_SECONDS: '300' },
      timeout: 60_000,
    });
    const second = JSON.parse(defaulted.stdout.trim().split('\n').at(-1)!) as { activates_at: string };
    expect(Date.parse(second.activates_at) - Date.now()).toBeGreaterThan(280_000);
    await expect(
      run(
        'npm',
        ['run', '--silent', '-w', 'services/identity', 'keys:rotate', '--', '--activate-in', 'soon'],
        {
          cwd: repoRoot,
          env: { ...process.env, DATABASE_URL: identity.infra.databaseUrl },
          timeout: 60_000,
        },
      ),
    ).rejects.toMatchObject({ code: 2 });
  });
});
