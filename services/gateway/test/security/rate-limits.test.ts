import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createTestSigner, eventually } from '@offload/testing';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  bearer,
  closedPortUrl,
  CONSENT,
  startGateway,
  startUpstreams,
  upstreamEnv,
  type TestGateway,
  type Upstream,
} from '../support.js';

// Rate limits at the edge (DESIGN 6): 100/min per user on protected prefixes, 20/min per user on
// /v1/ai/*, 10/min per IP on /v1/auth/* and /v1/sessions/*; in memory, or shared through Redis.

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let upstreams: Record<string, Upstream>;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  signer = await createTestSigner();
  upstreams = await startUpstreams();
});

afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
});

async function gateway(env: Record<string, string> = {}, options: { listen?: boolean } = {}) {
  const started = await startGateway(
    { ...upstreamEnv(upstreams), ...env },
    { jwks: signer.jwks, ...options },
  );
  gateways.push(started);
  return started;
}

type Inject = InjectOptions & { url: string };
const send = (gw: TestGateway, request: Inject): Promise<LightMyRequestResponse> =>
  gw.app.inject({ method: 'GET', ...request });

/** `n` requests one after the other; every answer in order. */
async function sendMany(gw: TestGateway | TestGateway[], n: number, request: (i: number) => Inject) {
  const list = Array.isArray(gw) ? gw : [gw];
  const answers: LightMyRequestResponse[] = [];
  for (let i = 0; i < n; i++) answers.push(await send(list[i % list.length]!, request(i)));
  return answers;
}

function expectLimited(res: LightMyRequestResponse, limit: number) {
  expect(res.statusCode).toBe(429);
  const body = res.json();
  expect(body.error).toMatchObject({ code: 'rate_limited', request_id: res.headers['x-request-id'] });
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(body.error.retry_after).toBe(retryAfter);
  expect(res.headers['ratelimit-limit']).toBe(String(limit));
  expect(res.headers['ratelimit-remaining']).toBe('0');
  expect(res.headers['ratelimit-reset']).toBe(String(retryAfter));
  expect(res.headers['ratelimit-policy']).toBe(`${limit};w=60`);
}

const statuses = (answers: LightMyRequestResponse[]) => answers.map((r) => r.statusCode);
const seen = (service: string) => upstreams[service]!.seen.length;

describe('rate limits', () => {
  it('per user: 100 requests in a minute pass, the 101st is 429 rate_limited, across protected prefixes', async () => {
    const gw = await gateway();
    const token = bearer(await signer.token());
    const before = seen('tasks') + seen('usage');
    // One budget for the user, whatever prefix: half on tasks, half on usage.
    const answers = await sendMany(gw, 100, (i) => ({
      url: i % 2 ? '/v1/tasks' : '/v1/usage/me',
      headers: token,
    }));
    expect(statuses(answers)).toEqual(Array(100).fill(200));
    expect(answers[0]!.headers).toMatchObject({
      'ratelimit-limit': '100',
      'ratelimit-remaining': '99',
      'ratelimit-policy': '100;w=60',
    });
    expect(answers[99]!.headers['ratelimit-remaining']).toBe('0');

    const past = await send(gw, { url: '/v1/notes', headers: token });
    expectLimited(past, 100);
    expect(seen('tasks') + seen('usage')).toBe(before + 100);

    // Someone else still has a full budget.
    const other = await send(gw, { url: '/v1/notes', headers: bearer(await signer.token()) });
    expect(other.statusCode).toBe(200);
    expect(other.headers['ratelimit-remaining']).toBe('99');
  });

  it('per user on /v1/ai: 20 requests pass, the 21st is 429; other prefixes still pass', async () => {
    const gw = await gateway();
    const token = bearer(await signer.token());
    const before = seen('ai');
    const answers = await sendMany(gw, 20, () => ({
      method: 'POST',
      url: '/v1/ai/breakdown/generate',
      headers: { ...token, ...CONSENT },
      payload: { input_text: 'plan the move' },
    }));
    expect(statuses(answers)).toEqual(Array(20).fill(200));
    // The headers describe the tighter of the two budgets: 20/min, not the general 100/min.
    expect(answers[0]!.headers['ratelimit-limit']).toBe('20');
    expect(answers[19]!.headers['ratelimit-remaining']).toBe('0');

    const past = await send(gw, { method: 'POST', url: '/v1/ai/chat', headers: { ...token, ...CONSENT } });
    expectLimited(past, 20);
    expect(seen('ai')).toBe(before + 20);

    const tasks = await send(gw, { url: '/v1/tasks', headers: token });
    expect(tasks.statusCode).toBe(200);
    // 21 requests of the general budget are used (the refused one counted too).
    expect(tasks.headers['ratelimit-remaining']).toBe(String(100 - 22));
  });

  it('per IP on /v1/auth and /v1/sessions: 10 requests pass, the 11th is 429', async () => {
    const gw = await gateway();
    const before = seen('identity');
    const answers = await sendMany(gw, 10, (i) => ({
      method: 'POST',
      url: i % 2 ? '/v1/auth/refresh' : '/v1/sessions/anonymous',
      payload: {},
    }));
    expect(statuses(answers)).toEqual(Array(10).fill(200));
    expect(answers[9]!.headers['ratelimit-remaining']).toBe('0');
    expectLimited(await send(gw, { method: 'POST', url: '/v1/auth/google', payload: {} }), 10);
    expect(seen('identity')).toBe(before + 10);
    // Public routes without a limit are not affected.
    expect((await send(gw, { url: '/v1/.well-known/jwks.json' })).statusCode).toBe(200);
  });

  it('the limits and the window come from configuration, and a new window brings a new budget', async () => {
    const gw = await gateway({ RATE_LIMIT_PER_USER: '3', RATE_LIMIT_WINDOW_MS: '3000' });
    const token = bearer(await signer.token());
    const answers = await sendMany(gw, 4, () => ({ url: '/v1/tasks', headers: token }));
    expect(statuses(answers)).toEqual([200, 200, 200, 429]);
    expect(answers[0]!.headers['ratelimit-policy']).toBe('3;w=3');
    await eventually(
      async () => (await send(gw, { url: '/v1/tasks', headers: token })).statusCode === 200,
      5_000,
    );
  });

  it('shared through Redis: two gateway replicas spend one budget per user and per IP', async () => {
    const prefix = `test:gateway:${randomBytes(6).toString('hex')}:`;
    const env = { RATE_LIMIT_REDIS_URL: REDIS_URL, RATE_LIMIT_REDIS_PREFIX: prefix };
    const pair = [await gateway(env), await gateway(env)];
    const token = bearer(await signer.token());

    const user = await sendMany(pair, 100, () => ({ url: '/v1/tasks', headers: token }));
    expect(statuses(user)).toEqual(Array(100).fill(200));
    // The 101st is refused by either replica, although each saw only 50.
    expectLimited(await send(pair[0]!, { url: '/v1/tasks', headers: token }), 100);
    expectLimited(await send(pair[1]!, { url: '/v1/tasks', headers: token }), 100);

    const ip = await sendMany(pair, 10, () => ({
      method: 'POST',
      url: '/v1/sessions/anonymous',
      payload: {},
    }));
    expect(statuses(ip)).toEqual(Array(10).fill(200));
    expectLimited(await send(pair[1]!, { method: 'POST', url: '/v1/sessions/anonymous', payload: {} }), 10);

    // The counters are Redis keys under the configured prefix, expiring with the window.
    const redis = new Redis(REDIS_URL);
    try {
      const keys = (await redis.keys(`${prefix}*`)).sort();
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(new RegExp(`^${prefix}ip:`));
      expect(keys[1]).toMatch(new RegExp(`^${prefix}user:[0-9a-f-]{36}$`));
      const ttl = await redis.pttl(keys[1]!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  it('Redis unreachable: the limits still hold, counted in the replica, and the log says why', async () => {
    const gw = await gateway({
      RATE_LIMIT_REDIS_URL: (await closedPortUrl()).replace('http', 'redis'),
      RATE_LIMIT_PER_USER: '2',
    });
    const token = bearer(await signer.token());
    const answers = await sendMany(gw, 3, () => ({ url: '/v1/tasks', headers: token }));
    expect(statuses(answers)).toEqual([200, 200, 429]);
    expect(answers[0]!.headers['ratelimit-limit']).toBe('2');
    expectLimited(answers[2]!, 2);
    expect(gw.logs.text()).toContain('rate-limit store failed: limits count in this replica meanwhile');
  });

  it('WebSocket upgrades are not counted by any limit', async () => {
    const gw = await gateway({ RATE_LIMIT_PER_USER: '1', RATE_LIMIT_AUTH_PER_IP: '1' }, { listen: true });
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/v1/voice/stream`);
        sockets.push(ws);
        await once(ws, 'open');
        ws.send(`hello ${i}`);
        const [message] = (await once(ws, 'message')) as [Buffer];
        expect(String(message)).toBe(`voice:hello ${i}`);
      }
    } finally {
      for (const ws of sockets) ws.close();
    }
    // HTTP under the same prefix is still limited (1 per user).
    const token = bearer(await signer.token());
    const answers = await sendMany(gw, 2, () => ({ url: '/v1/voice/sessions', headers: token }));
    expect(statuses(answers)).toEqual([200, 429]);
  });
});
