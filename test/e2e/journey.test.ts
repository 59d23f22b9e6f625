import { randomUUID } from 'node:crypto';
import { eventually } from '@offload/testing';
import { SignJWT, base64url, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

let system: RunningSystem;
let url: string;

beforeAll(async () => {
  system = await startSystem();
  url = system.gatewayUrl;
});

afterAll(async () => {
  await system?.stop();
});

const installId = () => `install-${randomUUID()}`;

describe('end to end through the gateway over real HTTP', () => {
  it('session -> create task -> list -> get, and a second user gets 404', async () => {
    const alice = await anonymousSession(url, installId());
    const created = await call(url, 'POST', '/v1/tasks', {
      token: alice.session_token,
      body: { title: 'Write the quarterly report', priority: 'high' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      title: 'Write the quarterly report',
      priority: 'high',
      completed: false,
    });
    expect(created.headers.get('x-request-id')).toBeTruthy();

    const list = await call(url, 'GET', '/v1/tasks', { token: alice.session_token });
    expect(list.status).toBe(200);
    expect(list.body.data.map((t: { id: string }) => t.id)).toEqual([created.body.id]);
    expect(list.body.next_cursor).toBeNull();

    const got = await call(url, 'GET', `/v1/tasks/${created.body.id}`, { token: alice.session_token });
    expect(got.status).toBe(200);
    expect(got.body.id).toBe(created.body.id);

    const bob = await anonymousSession(url, installId());
    const stolen = await call(url, 'GET', `/v1/tasks/${created.body.id}`, { token: bob.session_token });
    expect(stolen.status).toBe(404);
    expect(stolen.body.error.code).toBe('not_found');
    const bobsList = await call(url, 'GET', '/v1/tasks', { token: bob.session_token });
    expect(bobsList.body.data).toEqual([]);
  });

  it('grants the 5 kickstart credits within seconds of the first session', async () => {
    const session = await anonymousSession(url, installId());
    const balance = await eventually(async () => {
      const res = await call(url, 'GET', '/v1/credits/balance', { token: session.session_token });
      return res.status === 200 && res.body.kickstart === 5 ? res.body : undefined;
    }, 5_000);
    expect(balance).toMatchObject({ kickstart: 5, total: 5, daily: 0, subscription: 0, purchased: 0 });
    expect(balance.daily_reset_at).toMatch(/T00:00:00(\.000)?Z$/);
  });

  it('20 concurrent first sessions for 20 install ids give 20 users and 100 credits in total', async () => {
    const ids = Array.from({ length: 20 }, installId);
    const sessions = await Promise.all(ids.map((id) => anonymousSession(url, id)));
    expect(new Set(sessions.map((s) => s.user_id)).size).toBe(20);
    const total = await eventually(async () => {
      const balances = await Promise.all(
        sessions.map((s) => call(url, 'GET', '/v1/credits/balance', { token: s.session_token })),
      );
      const sum = balances.reduce((acc, b) => acc + (b.status === 200 ? b.body.total : 0), 0);
      return sum === 100 ? sum : undefined;
    }, 10_000);
    expect(total).toBe(100);
  });

  it('the same install id twice gives the same user', async () => {
    const id = installId();
    const first = await anonymousSession(url, id);
    const second = await anonymousSession(url, id);
    expect(second.user_id).toBe(first.user_id);
    expect(second.session_token).not.toBe(first.session_token);
  });

  it('an invalid body gives 422 with details', async () => {
    const res = await call(url, 'POST', '/v1/sessions/anonymous', {
      body: { install_id: 'short', app_version: '', platform: 'ios', surprise: true },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
    const fields = res.body.error.details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['body.install_id', 'body.app_version', 'body.surprise']));

    const session = await anonymousSession(url, installId());
    const task = await call(url, 'POST', '/v1/tasks', { token: session.session_token, body: { title: '' } });
    expect(task.status).toBe(422);
    expect(task.body.error.details[0].field).toBe('body.title');
  });

  describe('tokens', () => {
    it('missing token -> 401 unauthorized', async () => {
      const res = await call(url, 'GET', '/v1/tasks');
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    });

    it('expired token -> 401 expired_token with refresh_required', async () => {
      const { key, kid } = await system.identitySigningKey();
      const now = Math.floor(Date.now() / 1000);
      const expired = await new SignJWT({ sid: randomUUID(), tier: 'free', anon: true })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
        .setIssuer('offload-cloud/identity')
        .setAudience('offload-cloud')
        .setSubject(randomUUID())
        .setJti(randomUUID())
        .setIssuedAt(now - 1000)
        .setExpirationTime(now - 100)
        .sign(key);
      const res = await call(url, 'GET', '/v1/tasks', { token: expired });
      expect(res.status).toBe(401);
      expect(res.body.error).toMatchObject({ code: 'expired_token', refresh_required: true });
    });

    it('tampered token -> 401 invalid_token', async () => {
      const session = await anonymousSession(url, installId());
      const [h, p, s] = session.session_token.split('.') as [string, string, string];
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
      claims.sub = randomUUID();
      const forged = `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
      const res = await call(url, 'GET', '/v1/tasks', { token: forged });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_token');
    });

    it('alg: none token -> 401 invalid_token', async () => {
      const session = await anonymousSession(url, installId());
      const [, p] = session.session_token.split('.') as [string, string];
      const header = { ...decodeProtectedHeader(session.session_token), alg: 'none' };
      const unsigned = `${base64url.encode(JSON.stringify(header))}.${p}.`;
      const res = await call(url, 'GET', '/v1/tasks', { token: unsigned });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_token');
    });
  });

  it('an unknown route gives the 404 envelope', async () => {
    const res = await call(url, 'GET', '/v1/does-not-exist');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'not_found', request_id: expect.any(String) });
  });

  it('GET /v1/health reports every service ok', async () => {
    const res = await call(url, 'GET', '/v1/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      service: 'gateway',
      checks: { identity: 'ok', ai: 'ok', usage: 'ok', tasks: 'ok', billing: 'ok', voice: 'ok' },
    });
  });
});
