import { createHmac, createPublicKey, randomUUID, type JsonWebKey } from 'node:crypto';
import { newId, type EventOf } from '@offload/contracts';
import { createLogger } from '@offload/platform/logger';
import { connectBus, type Bus } from '@offload/platform/nats';
import { createTestSigner, eventually, LogCapture } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
  natsEnv,
  signJwt,
  startGateway,
  startJwksServer,
  startUpstreams,
  upstreamEnv,
  type JwksServer,
  type TestGateway,
  type Upstream,
} from '../support.js';

// Access tokens at the edge (DESIGN 5, 6): every way a token can be wrong is refused with 401 before
// the request reaches a service, and the token never lands in a log line.

let upstreams: Record<string, Upstream>;
let jwks: JwksServer;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
let gateway: TestGateway;
let bus: Bus;
const nats = natsEnv();

beforeAll(async () => {
  signer = await createTestSigner();
  jwks = await startJwksServer((await signer.jwks()).keys);
  upstreams = await startUpstreams();
  gateway = await startGateway({ ...upstreamEnv(upstreams), ...nats, JWKS_URL: jwks.url });
  bus = await connectBus({
    url: nats.NATS_URL!,
    name: 'identity-stand-in',
    prefix: nats.NATS_SUBJECT_PREFIX,
    logger: createLogger({ service: 'identity', destination: new LogCapture() }),
  });
});

afterAll(async () => {
  await bus?.close();
  await gateway?.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
  await jwks?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const header = () => ({ alg: 'EdDSA', kid: signer.kid, typ: 'at+jwt' });

/** The claims identity puts in an access token (DESIGN 5). */
const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: 'offload-cloud/identity',
  aud: 'offload-cloud',
  sub: randomUUID(),
  sid: randomUUID(),
  did: 'install-test-0001',
  tier: 'free',
  anon: true,
  iat: now(),
  exp: now() + 900,
  jti: randomUUID(),
  ...overrides,
});

/**
 * Sends the authorization header to a protected route and checks the gateway's answer: 401 with `code`,
 * nothing forwarded, the token nowhere in the logs.
 */
async function expectRefused(authorization: string | undefined, code: string) {
  const before = upstreams.tasks!.seen.length;
  const res = await gateway.app.inject({
    method: 'GET',
    url: '/v1/tasks',
    headers: authorization === undefined ? {} : { authorization },
  });
  expect(res.statusCode).toBe(401);
  const body = res.json();
  expect(body.error).toMatchObject({ code, request_id: res.headers['x-request-id'] });
  if (code === 'expired_token') expect(body.error.refresh_required).toBe(true);
  else expect(body.error.refresh_required).toBeUndefined();
  expect(upstreams.tasks!.seen.length).toBe(before);
  const token = authorization?.split(' ')[1];
  if (token)
    for (const part of token.split('.').filter((p) => p.length > 8))
      expect(gateway.logs.text()).not.toContain(part);
}

describe('access tokens at the gateway', () => {
  it('accepts a valid token (the baseline every refusal below differs from in one way)', async () => {
    const token = await signJwt(header(), claims(), signer.privateKey);
    const res = await gateway.app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
  });

  it('no token: 401 unauthorized', async () => {
    await expectRefused(undefined, 'unauthorized');
  });

  it('malformed token: 401 invalid_token', async () => {
    await expectRefused('Bearer not-a-jwt', 'invalid_token');
    await expectRefused('Bearer aaa.bbb.ccc', 'invalid_token');
    await expectRefused(`Basic ${Buffer.from('a:b').toString('base64')}`, 'invalid_token');
  });

  it('bad signature: 401 invalid_token', async () => {
    const [h, p, s] = (await signJwt(header(), claims(), signer.privateKey)).split('.') as [
      string,
      string,
      string,
    ];
    const flipped = `${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
    await expectRefused(`Bearer ${h}.${p}.${flipped}`, 'invalid_token');
    // Claims changed after signing (a free user making itself pro).
    const tampered = Buffer.from(JSON.stringify(claims({ tier: 'pro' }))).toString('base64url');
    await expectRefused(`Bearer ${h}.${tampered}.${s}`, 'invalid_token');
  });

  it('alg none: 401 invalid_token', async () => {
    await expectRefused(`Bearer ${await signJwt({ ...header(), alg: 'none' }, claims())}`, 'invalid_token');
  });

  it('HS256 signed with the public key: 401 invalid_token', async () => {
    // The classic algorithm confusion: a verifier that takes `alg` from the token would check this
    // HMAC with the public key as the secret, and pass.
    const jwk = (await signer.jwks()).keys[0]!;
    const publicPem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    }) as string;
    const rawX = String(jwk.x);
    for (const secret of [publicPem, rawX]) {
      const input = `${b64({ ...header(), alg: 'HS256' })}.${b64(claims())}`;
      const mac = createHmac('sha256', secret).update(input).digest('base64url');
      await expectRefused(`Bearer ${input}.${mac}`, 'invalid_token');
    }
  });

  it('unknown kid: 401 invalid_token', async () => {
    const stranger = await createTestSigner();
    await expectRefused(`Bearer ${await stranger.token()}`, 'invalid_token');
    // Our key, but a kid nobody published.
    await expectRefused(
      `Bearer ${await signJwt({ ...header(), kid: randomUUID() }, claims(), signer.privateKey)}`,
      'invalid_token',
    );
  });

  it('wrong iss: 401 invalid_token', async () => {
    const token = await signJwt(header(), claims({ iss: 'https://evil.example' }), signer.privateKey);
    await expectRefused(`Bearer ${token}`, 'invalid_token');
  });

  it('wrong aud: 401 invalid_token', async () => {
    const token = await signJwt(header(), claims({ aud: 'someone-else' }), signer.privateKey);
    await expectRefused(`Bearer ${token}`, 'invalid_token');
  });

  it('wrong typ: 401 invalid_token', async () => {
    const token = await signJwt({ ...header(), typ: 'JWT' }, claims(), signer.privateKey);
    await expectRefused(`Bearer ${token}`, 'invalid_token');
  });

  it('expired: 401 expired_token with refresh_required', async () => {
    const token = await signJwt(header(), claims({ iat: now() - 1000, exp: now() - 10 }), signer.privateKey);
    await expectRefused(`Bearer ${token}`, 'expired_token');
  });

  it('nbf in the future: 401 invalid_token', async () => {
    const token = await signJwt(header(), claims({ nbf: now() + 600 }), signer.privateKey);
    await expectRefused(`Bearer ${token}`, 'invalid_token');
  });

  it('token of a revoked session (after logout-all): refused within 5 s, even when already cached', async () => {
    const userId = randomUUID();
    const first = await signJwt(header(), claims({ sub: userId, iat: now() - 5 }), signer.privateKey);
    const second = await signJwt(header(), claims({ sub: userId, iat: now() - 5 }), signer.privateKey);
    const bystander = await signJwt(header(), claims({ iat: now() - 5 }), signer.privateKey);
    for (const token of [first, second, bystander]) {
      const ok = await gateway.app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(token) });
      expect(ok.statusCode).toBe(200);
    }

    const revokedAt = Date.now();
    publishRevocation({ user_id: userId, session_ids: [], all: true, reason: 'logout_all' });
    const refused = await eventually(async () => {
      const res = await gateway.app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(first) });
      return res.statusCode === 401 ? res : undefined;
    }, 5_000);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    expect(refused.json().error.code).toBe('invalid_token');
    await expectRefused(`Bearer ${second}`, 'invalid_token');
    // Another user's token is untouched.
    const other = await gateway.app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(bystander) });
    expect(other.statusCode).toBe(200);
  });

  it('token of a deleted user: refused within 5 s of the erasure', async () => {
    const userId = randomUUID();
    const token = await signJwt(header(), claims({ sub: userId, iat: now() - 5 }), signer.privateKey);
    expect((await gateway.app.inject({ url: '/v1/tasks', headers: bearer(token) })).statusCode).toBe(200);
    const erasedAt = Date.now();
    // identity revokes every session of a user it erases (DESIGN 5).
    publishRevocation({ user_id: userId, session_ids: [], all: true, reason: 'user_deleted' });
    await eventually(async () => {
      const res = await gateway.app.inject({ url: '/v1/tasks', headers: bearer(token) });
      return res.statusCode === 401 && res.json().error.code === 'invalid_token';
    }, 5_000);
    expect(Date.now() - erasedAt).toBeLessThan(5_000);
  });

  it('token of a revoked session (after logout): that session only', async () => {
    const userId = randomUUID();
    const loggedOut = claims({ sub: userId });
    const token = await signJwt(header(), loggedOut, signer.privateKey);
    const otherDevice = await signJwt(header(), claims({ sub: userId }), signer.privateKey);
    expect((await gateway.app.inject({ url: '/v1/tasks', headers: bearer(token) })).statusCode).toBe(200);

    publishRevocation({ user_id: userId, session_ids: [loggedOut.sid], all: false, reason: 'logout' });
    await eventually(async () => {
      const res = await gateway.app.inject({ url: '/v1/tasks', headers: bearer(token) });
      return res.statusCode === 401;
    }, 5_000);
    expect((await gateway.app.inject({ url: '/v1/tasks', headers: bearer(otherDevice) })).statusCode).toBe(
      200,
    );
  });
});

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** What identity publishes after a logout, a logout-all or an erasure (contracts `identity.session.revoked`). */
function publishRevocation(data: Omit<EventOf<'identity.session.revoked'>['data'], 'revoked_at'>) {
  const event: EventOf<'identity.session.revoked'> = {
    id: newId(),
    type: 'identity.session.revoked',
    source: 'identity',
    time: new Date().toISOString(),
    subject: data.user_id,
    data: { ...data, revoked_at: new Date().toISOString() },
  };
  bus.nc.publish(bus.subject('identity.session.revoked'), JSON.stringify(event));
}
