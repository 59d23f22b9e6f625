import { createHash, randomUUID } from 'node:crypto';
import {
  ACCESS_TOKEN_AUDIENCE,
  ACCESS_TOKEN_ISSUER,
  ACCESS_TOKEN_TYPE,
  identityJwksRpc,
  TokenBundle,
  type EventOf,
} from '@offload/contracts';
import { createTokenVerifier, httpJwksSource, natsJwksSource } from '@offload/platform/auth';
import type { App } from '@offload/platform/http';
import { createLogger } from '@offload/platform/logger';
import { callRpc, connectBus, startConsumer, type Bus, type RunningConsumer } from '@offload/platform/nats';
import { createTestInfra, createTestSigner, eventually, LogCapture, type TestInfra } from '@offload/testing';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIdentityApp } from '../src/app.js';
import { loadIdentityConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createIdentityRuntime, type IdentityRuntime } from '../src/deps.js';

let infra: TestInfra;
let runtime: IdentityRuntime;
let app: App;
let bus: Bus;
let consumer: RunningConsumer;
const logs = new LogCapture();
const received: EventOf<'identity.user.created'>[] = [];
/** Every raw install id and token this file handled; none may ever show up in a log line. */
const secrets = new Set<string>();

beforeAll(async () => {
  infra = await createTestInfra();
  await migrate(infra.databaseUrl);
  const config = loadIdentityConfig({
    DATABASE_URL: infra.databaseUrl,
    NATS_URL: infra.natsUrl,
    NATS_SUBJECT_PREFIX: infra.natsPrefix,
    LOG_LEVEL: 'trace',
    // These tests start hundreds of sessions from one address; the limits have their own test file.
    SESSION_RATE_LIMIT_PER_IP: '100000',
    SESSION_RATE_LIMIT_PER_INSTALL_ID: '100000',
  });
  runtime = await createIdentityRuntime(config, {
    logger: createLogger({ service: 'identity', level: 'trace', destination: logs }),
  });
  app = await buildIdentityApp(runtime);
  const testLogger = createLogger({ service: 'identity-test', level: 'silent' });
  bus = await connectBus({
    url: infra.natsUrl,
    name: 'identity-test',
    prefix: infra.natsPrefix,
    logger: testLogger,
  });
  consumer = await startConsumer(bus, {
    stream: 'IDENTITY',
    durable: 'identity_test__user_created',
    types: ['identity.user.created'],
    logger: testLogger,
    handler: async (event) => {
      received.push(event);
    },
  });
});

afterAll(async () => {
  await consumer?.stop();
  await bus?.close();
  await app?.close();
  await runtime?.close();
  await infra?.cleanup();
});

/** A unique install id of exactly `length` characters. */
function installId(length = 36): string {
  let id = '';
  while (id.length < length) id += randomUUID().replace(/-/g, '');
  return id.slice(0, length);
}

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

async function startSession(body: Record<string, unknown>) {
  if (typeof body.install_id === 'string') secrets.add(body.install_id);
  const res = await app.inject({ method: 'POST', url: '/v1/sessions/anonymous', payload: body });
  if (res.statusCode === 201) {
    const bundle = res.json() as TokenBundle;
    secrets.add(bundle.session_token);
    secrets.add(bundle.refresh_token);
  }
  return res;
}

const session = (id: string, extra: Record<string, unknown> = {}) =>
  startSession({ install_id: id, app_version: '1.4.2', platform: 'ios', ...extra });

async function count(query: string, params: unknown[] = []): Promise<number> {
  const [row] = await runtime.database.sql.unsafe<{ n: string }[]>(query, params as never[]);
  return Number(row!.n);
}

describe('POST /v1/sessions/anonymous', () => {
  it('answers 201 with a token bundle and creates an anonymous user on the first call', async () => {
    const id = installId();
    const res = await session(id);
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const bundle = TokenBundle.parse(res.json());
    expect(bundle.token_type).toBe('Bearer');
    expect(bundle.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(bundle.expires_at)).toBeGreaterThan(Date.now());
    const [user] = await runtime.database.sql<{ anonymous: boolean; tier: string }[]>`
      select anonymous, tier::text as tier from identity.users where id = ${bundle.user_id}`;
    expect(user).toEqual({ anonymous: true, tier: 'free' });
  });

  it('gives the same user for the same install id, with a new session each time', async () => {
    const id = installId();
    const first = await session(id);
    const second = await session(id, { app_version: '1.5.0', platform: 'android' });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.json().user_id).toBe(first.json().user_id);
    expect(second.json().refresh_token).not.toBe(first.json().refresh_token);
    const sids = [first, second].map((r) => decodeJwt(r.json().session_token).sid);
    expect(sids[0]).not.toBe(sids[1]);
    const [device] = await runtime.database.sql<{ platform: string; app_version: string }[]>`
      select platform, app_version from identity.devices where install_id_hash = ${sha256(id)}`;
    expect(device).toEqual({ platform: 'android', app_version: '1.5.0' });
  });

  it('creates exactly one user for 20 concurrent first calls with the same install id', async () => {
    const id = installId();
    const usersBefore = await count('select count(*) as n from identity.users');
    const responses = await Promise.all(Array.from({ length: 20 }, () => session(id)));
    expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(201));
    const userIds = new Set(responses.map((r) => r.json().user_id as string));
    expect(userIds.size).toBe(1);
    const [userId] = [...userIds];
    expect(await count('select count(*) as n from identity.users')).toBe(usersBefore + 1);
    expect(
      await count('select count(*) as n from identity.devices where install_id_hash = $1', [sha256(id)]),
    ).toBe(1);
    expect(
      await count('select count(distinct user_id) as n from identity.sessions where install_id_hash = $1', [
        sha256(id),
      ]),
    ).toBe(1);
    expect(
      await count('select count(*) as n from identity.sessions where install_id_hash = $1', [sha256(id)]),
    ).toBe(20);
    expect(
      await count(
        `select count(*) as n from identity.outbox
         where type = 'identity.user.created' and payload->'data'->>'user_id' = $1`,
        [userId],
      ),
    ).toBe(1);
  });

  it('creates 20 users and 20 events for 20 concurrent calls with different install ids', async () => {
    const ids = Array.from({ length: 20 }, () => installId());
    const usersBefore = await count('select count(*) as n from identity.users');
    const responses = await Promise.all(ids.map((id) => session(id)));
    expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(201));
    const userIds = responses.map((r) => r.json().user_id as string);
    expect(new Set(userIds).size).toBe(20);
    expect(await count('select count(*) as n from identity.users')).toBe(usersBefore + 20);
    expect(
      await count(
        `select count(*) as n from identity.outbox
         where type = 'identity.user.created' and payload->'data'->>'user_id' = any($1::text[])`,
        [userIds],
      ),
    ).toBe(20);

    // The relay publishes them to the IDENTITY stream; a consumer in this test's namespace gets each once.
    await eventually(async () => userIds.every((u) => received.some((e) => e.data.user_id === u)), 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const mine = received.filter((e) => userIds.includes(e.data.user_id));
    expect(mine).toHaveLength(20);
    for (const event of mine) {
      expect(event).toMatchObject({
        type: 'identity.user.created',
        source: 'identity',
        subject: event.data.user_id,
        data: { anonymous: true, tier: 'free' },
      });
    }
    expect(
      await count(
        `select count(*) as n from identity.outbox
         where payload->'data'->>'user_id' = any($1::text[]) and published_at is null`,
        [userIds],
      ),
    ).toBe(0);
  });

  it.each([
    ['install_id', 7, 422],
    ['install_id', 8, 201],
    ['install_id', 128, 201],
    ['install_id', 129, 422],
    ['app_version', 0, 422],
    ['app_version', 1, 201],
    ['app_version', 32, 201],
    ['app_version', 33, 422],
    ['platform', 0, 422],
    ['platform', 1, 201],
    ['platform', 32, 201],
    ['platform', 33, 422],
  ])('%s of %i characters answers %i', async (field, length, status) => {
    const body: Record<string, unknown> = { install_id: installId(), app_version: '1.0.0', platform: 'ios' };
    body[field] = field === 'install_id' ? installId(length) : 'v'.repeat(length);
    const res = await startSession(body);
    expect(res.statusCode).toBe(status);
    if (status === 422) {
      const error = res.json().error;
      expect(error.code).toBe('validation_error');
      expect(error.details.map((d: { field: string }) => d.field)).toEqual([`body.${field}`]);
    }
  });

  it('rejects unknown and missing fields with 422 and details', async () => {
    const unknown = await session(installId(), { referrer: 'ads' });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().error).toMatchObject({ code: 'validation_error', request_id: expect.any(String) });
    expect(unknown.json().error.details).toEqual([{ field: 'body.referrer', message: expect.any(String) }]);

    const missing = await startSession({ install_id: installId() });
    expect(missing.statusCode).toBe(422);
    expect(
      missing
        .json()
        .error.details.map((d: { field: string }) => d.field)
        .sort(),
    ).toEqual(['body.app_version', 'body.platform']);
  });

  it('issues tokens with exactly the DESIGN 5 header and claims', async () => {
    const id = installId();
    const before = Math.floor(Date.now() / 1000);
    const bundle = (await session(id)).json() as TokenBundle;
    const header = decodeProtectedHeader(bundle.session_token);
    expect(header).toEqual({ alg: 'EdDSA', kid: runtime.keyRing.active.kid, typ: ACCESS_TOKEN_TYPE });
    const claims = decodeJwt(bundle.session_token);
    expect(Object.keys(claims).sort()).toEqual(
      ['anon', 'aud', 'did', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub', 'tier'].sort(),
    );
    const [sessionRow] = await runtime.database.sql<{ id: string }[]>`
      select id from identity.sessions where install_id_hash = ${sha256(id)}`;
    expect(claims).toMatchObject({
      iss: ACCESS_TOKEN_ISSUER,
      aud: ACCESS_TOKEN_AUDIENCE,
      sub: bundle.user_id,
      sid: sessionRow!.id,
      did: id,
      tier: 'free',
      anon: true,
    });
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(bundle.expires_at).toBe(new Date(claims.exp! * 1000).toISOString());
  });

  it('keeps neither the raw install id nor the refresh token at rest', async () => {
    const id = installId();
    const bundle = (await session(id)).json() as TokenBundle;
    const [refresh] = await runtime.database.sql<{ session_id: string; expires_at: string }[]>`
      select session_id, expires_at from identity.refresh_tokens where token_hash = ${sha256(bundle.refresh_token)}`;
    expect(refresh?.session_id).toBe(decodeJwt(bundle.session_token).sid);
    const [sessionRow] = await runtime.database.sql<{ absolute_expires_at: string; created_at: string }[]>`
      select absolute_expires_at, created_at from identity.sessions where id = ${refresh!.session_id}`;
    const DAY = 86_400_000;
    const started = Date.parse(sessionRow!.created_at);
    expect(Date.parse(sessionRow!.absolute_expires_at) - started).toBe(30 * DAY);
    expect(Date.parse(refresh!.expires_at) - started).toBe(7 * DAY);

    const dump = await runtime.database.sql.unsafe<{ t: string }[]>(`
      select row_to_json(d)::text as t from identity.devices d
      union all select row_to_json(s)::text from identity.sessions s
      union all select row_to_json(r)::text from identity.refresh_tokens r
      union all select row_to_json(o)::text from identity.outbox o
      union all select row_to_json(u)::text from identity.users u`);
    const text = dump.map((r) => r.t).join('\n');
    expect(text).toContain(sha256(id));
    expect(text).toContain(sha256(bundle.refresh_token));
    expect(text).not.toContain(id);
    expect(text).not.toContain(bundle.refresh_token);
  });

  it('refuses an anonymous session for an install id whose user linked an account or was erased', async () => {
    const linkedId = installId();
    const linked = (await session(linkedId)).json() as TokenBundle;
    await runtime.database.sql`update identity.users set anonymous = false where id = ${linked.user_id}`;
    const again = await session(linkedId);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('identity_already_linked');

    const erasedId = installId();
    const erased = (await session(erasedId)).json() as TokenBundle;
    await runtime.database.sql`update identity.users set deleted_at = now() where id = ${erased.user_id}`;
    const denied = await session(erasedId);
    expect(denied.statusCode).toBe(401);
    expect(denied.json().error.code).toBe('unauthorized');
    expect(
      await count('select count(*) as n from identity.sessions where install_id_hash = any($1::text[])', [
        [sha256(linkedId), sha256(erasedId)],
      ]),
    ).toBe(2);
  });
});

describe('signing keys', () => {
  it('publishes only public keys at /v1/.well-known/jwks.json, cacheable for 5 minutes', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    const { keys } = res.json();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      kid: runtime.keyRing.active.kid,
      alg: 'EdDSA',
      use: 'sig',
    });
  });

  it('issues tokens that createTokenVerifier accepts against the JWKS route, over real HTTP', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const verifier = createTokenVerifier({ source: httpJwksSource(`${address}/v1/.well-known/jwks.json`) });
    const id = installId();
    const bundle = (await session(id)).json() as TokenBundle;
    const user = await verifier.verify(bundle.session_token);
    expect(user).toMatchObject({
      userId: bundle.user_id,
      installId: id,
      tier: 'free',
      anonymous: true,
      sessionId: decodeJwt(bundle.session_token).sid,
    });
    // A token signed by any other key is refused by the same verifier.
    const stranger = await createTestSigner();
    await expect(verifier.verify(await stranger.token())).rejects.toMatchObject({ code: 'invalid_token' });
  });

  it('serves the same keys over the NATS identity.jwks request/reply, and tokens verify with them', async () => {
    const jwks = await callRpc(bus, identityJwksRpc, {});
    const route = await app.inject({ method: 'GET', url: '/v1/.well-known/jwks.json' });
    expect(jwks).toEqual(route.json());
    const verifier = createTokenVerifier({ source: natsJwksSource(bus) });
    const bundle = (await session(installId())).json() as TokenBundle;
    await expect(verifier.verify(bundle.session_token)).resolves.toMatchObject({ userId: bundle.user_id });
    const tampered = `${bundle.session_token.slice(0, -4)}AAAA`;
    await expect(verifier.verify(tampered)).rejects.toMatchObject({ code: 'invalid_token' });
  });
});

describe('GET /v1/users/me', () => {
  it('returns the token’s user', async () => {
    const bundle = (await session(installId())).json() as TokenBundle;
    const res = await app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: `Bearer ${bundle.session_token}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: bundle.user_id,
      anonymous: true,
      tier: 'free',
      name: null,
      timezone: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      version: 1,
    });
  });

  it('answers 401 without a token or with a token identity did not sign', async () => {
    const none = await app.inject({ method: 'GET', url: '/v1/users/me' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('unauthorized');
    const stranger = await createTestSigner();
    const foreign = await app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: `Bearer ${await stranger.token()}` },
    });
    expect(foreign.statusCode).toBe(401);
    expect(foreign.json().error.code).toBe('invalid_token');
  });

  it('answers 404 for an erased user', async () => {
    const bundle = (await session(installId())).json() as TokenBundle;
    await runtime.database.sql`update identity.users set deleted_at = now() where id = ${bundle.user_id}`;
    const res = await app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: `Bearer ${bundle.session_token}` },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});

describe('logs', () => {
  it('never contain a raw install id, an access token or a refresh token', async () => {
    // A failing request with secrets in the body and a bad bearer token, on top of everything above.
    const id = installId(129);
    await startSession({ install_id: id, app_version: '1', platform: 'ios' });
    const bundle = (await session(installId())).json() as TokenBundle;
    await app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: `Bearer ${bundle.session_token}x` },
    });

    const text = logs.text();
    expect(logs.lines.length).toBeGreaterThan(20);
    expect(text).toContain('anonymous session started');
    expect(secrets.size).toBeGreaterThan(100);
    for (const secret of secrets) expect(text).not.toContain(secret);
    // Nor the parts of a JWT (its payload holds the install id).
    for (const secret of secrets) {
      if (secret.split('.').length === 3) expect(text).not.toContain(secret.split('.')[1]!);
    }
  });
});
