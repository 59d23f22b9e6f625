import type { TokenBundle } from '@offload/contracts';
import {
  createRevocationList,
  createTokenVerifier,
  natsJwksSource,
  type RevocationList,
} from '@offload/platform/auth';
import type { Bus } from '@offload/platform/nats';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  anonymousSession,
  bearer,
  connectTestBus,
  getMe,
  newInstallId,
  outboxEvents,
  refresh,
  startIdentity,
  type IdentityUnderTest,
} from './support.js';

let identity: IdentityUnderTest;
/** Plays the gateway (or another service): verifies over NATS, revocations from the event stream. */
let gatewayBus: Bus;
const lists: RevocationList[] = [];

beforeAll(async () => {
  identity = await startIdentity({
    env: { SESSION_RATE_LIMIT_PER_IP: '100000', SESSION_RATE_LIMIT_PER_INSTALL_ID: '100000' },
  });
  gatewayBus = await connectTestBus(identity.infra, 'gateway-test');
});

afterAll(async () => {
  for (const list of lists) await list.stop();
  await gatewayBus?.close();
  await identity?.close();
});

async function gatewayVerifier() {
  const revocations = await createRevocationList({ bus: gatewayBus });
  lists.push(revocations);
  return { revocations, verifier: createTokenVerifier({ source: natsJwksSource(gatewayBus), revocations }) };
}

const logout = (refreshToken: string) =>
  identity.app.inject({ method: 'POST', url: '/v1/auth/logout', payload: { refresh_token: refreshToken } });
const logoutAll = (accessToken: string) =>
  identity.app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(accessToken) });

/** Resolves when `verify` refuses, returning how long that took; fails after `limitMs`. */
async function msUntilRefused(verify: () => Promise<unknown>, limitMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const refused = await verify().then(
      () => false,
      (error: { code?: string }) => error.code === 'invalid_token',
    );
    const elapsed = Date.now() - started;
    if (refused) return elapsed;
    if (elapsed > limitMs) throw new Error(`still accepted after ${elapsed} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('POST /v1/auth/logout', () => {
  it('logout is idempotent: 204 every time, one revocation, and the session’s tokens stop working', async () => {
    const { bundle } = await anonymousSession(identity.app);
    const { verifier } = await gatewayVerifier();
    await expect(verifier.verify(bundle!.session_token)).resolves.toMatchObject({ userId: bundle!.user_id });

    const first = await logout(bundle!.refresh_token);
    expect(first.statusCode).toBe(204);
    expect(first.body).toBe('');
    expect((await logout(bundle!.refresh_token)).statusCode).toBe(204);
    expect((await logout('B'.repeat(43))).statusCode).toBe(204);

    const sid = decodeJwt(bundle!.session_token).sid;
    const events = await outboxEvents<{ data: Record<string, unknown> }>(
      identity.runtime,
      'identity.session.revoked',
      bundle!.user_id,
    );
    expect(events.map((e) => e.data)).toEqual([
      {
        user_id: bundle!.user_id,
        session_ids: [sid],
        all: false,
        revoked_at: expect.any(String),
        reason: 'logout',
      },
    ]);
    expect((await refresh(identity.app, bundle!.refresh_token)).statusCode).toBe(401);
    // Identity itself refuses at once; the gateway-side verifier within 5 s (cached token included).
    expect((await getMe(identity.app, bundle!.session_token)).statusCode).toBe(401);
    expect(await msUntilRefused(() => verifier.verify(bundle!.session_token), 5_000)).toBeLessThan(5_000);
  });

  it('needs a refresh token in the body (422)', async () => {
    const res = await identity.app.inject({ method: 'POST', url: '/v1/auth/logout', payload: {} });
    expect(res.statusCode).toBe(422);
  });
});

describe('POST /v1/auth/logout-all', () => {
  it('logout-all: every session ends and a verifier with revocations rejects the tokens within 5 s', async () => {
    const installId = newInstallId();
    const sessions = [
      (await anonymousSession(identity.app, { installId })).bundle!,
      (await anonymousSession(identity.app, { installId })).bundle!,
    ];
    const bystander = (await anonymousSession(identity.app)).bundle!;
    const { verifier } = await gatewayVerifier();
    for (const s of [...sessions, bystander]) await verifier.verify(s.session_token);

    const res = await logoutAll(sessions[0]!.session_token);
    expect(res.statusCode).toBe(204);
    for (const s of sessions) {
      const ms = await msUntilRefused(() => verifier.verify(s.session_token), 5_000);
      expect(ms).toBeLessThan(5_000);
      expect((await refresh(identity.app, s.refresh_token)).statusCode).toBe(401);
      expect((await getMe(identity.app, s.session_token)).statusCode).toBe(401);
    }
    await expect(verifier.verify(bystander.session_token)).resolves.toMatchObject({
      userId: bystander.user_id,
    });

    const [event] = await outboxEvents<{ data: { session_ids: string[]; all: boolean; reason: string } }>(
      identity.runtime,
      'identity.session.revoked',
      sessions[0]!.user_id,
    );
    expect(event!.data).toMatchObject({ all: true, reason: 'logout_all' });
    expect(event!.data.session_ids.sort()).toEqual(
      sessions.map((s) => decodeJwt(s.session_token).sid).sort(),
    );

    // A verifier that starts later loads the revocations from identity (request/reply) and refuses too.
    const late = await gatewayVerifier();
    expect(late.revocations.loaded).toBe(true);
    await expect(late.verifier.verify(sessions[1]!.session_token)).rejects.toMatchObject({
      code: 'invalid_token',
    });
    await expect(late.verifier.verify(bystander.session_token)).resolves.toBeDefined();

    // Signing in again afterwards works (a new session, issued after the logout-all second).
    await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 20));
    const again = await identity.app.inject({
      method: 'POST',
      url: '/v1/sessions/anonymous',
      payload: { install_id: installId, app_version: '2.0.0', platform: 'ios' },
    });
    expect(again.statusCode).toBe(201);
    const fresh = again.json() as TokenBundle;
    expect(fresh.user_id).toBe(sessions[0]!.user_id);
    expect((await getMe(identity.app, fresh.session_token)).statusCode).toBe(200);
    await expect(verifier.verify(fresh.session_token)).resolves.toMatchObject({ userId: fresh.user_id });
  });

  it('needs a valid access token', async () => {
    const res = await identity.app.inject({ method: 'POST', url: '/v1/auth/logout-all' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
  });
});
