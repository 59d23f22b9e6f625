import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { App } from '@offload/platform/http';
import { createTestSigner, eventually } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PROXY_ROUTES } from '../src/domain/routes.js';
import {
  bearer,
  closedPortUrl,
  CONSENT,
  startGateway,
  startJwksServer,
  startUpstreams,
  upstreamEnv,
  type JwksServer,
  type TestGateway,
  type Upstream,
} from './support.js';

// Token checks, rate limits, consent, body caps and request ids have their named cases in
// test/security/*; this file covers routing, forwarding and upstream failures.

/** DESIGN 2 and 6, written out again on purpose: the route table must match it. */
const EXPECTED_ROUTES: Array<
  [prefix: string, service: string, access: 'public' | 'bearer', limits: string[], consent?: true]
> = [
  ['/v1/sessions', 'identity', 'public', ['ip']],
  ['/v1/auth', 'identity', 'public', ['ip']],
  ['/v1/users', 'identity', 'bearer', ['user']],
  ['/v1/users/erasures', 'identity', 'public', []],
  ['/v1/.well-known', 'identity', 'public', []],
  ['/v1/ai', 'ai', 'bearer', ['user', 'ai'], true],
  ['/v1/usage', 'usage', 'bearer', ['user']],
  ['/v1/credits', 'usage', 'bearer', ['user']],
  ['/v1/tasks', 'tasks', 'bearer', ['user']],
  ['/v1/subtasks', 'tasks', 'bearer', ['user']],
  ['/v1/notes', 'tasks', 'bearer', ['user']],
  ['/v1/reminders', 'tasks', 'bearer', ['user']],
  ['/v1/recurring-templates', 'tasks', 'bearer', ['user']],
  ['/v1/breakdown-templates', 'tasks', 'bearer', ['user']],
  ['/v1/tombstones', 'tasks', 'bearer', ['user']],
  ['/v1/focus', 'tasks', 'bearer', ['user']],
  ['/v1/achievements', 'tasks', 'bearer', ['user']],
  ['/v1/notifications', 'tasks', 'bearer', ['user']],
  ['/v1/activity', 'tasks', 'bearer', ['user']],
  ['/v1/subscription', 'billing', 'bearer', ['user']],
  ['/v1/webhooks', 'billing', 'public', []],
  ['/v1/voice', 'voice', 'bearer', ['user']],
];

let upstreams: Record<string, Upstream>;
let jwks: JwksServer;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
let gateway: TestGateway;
let app: App;
let gatewayUrl: string;

beforeAll(async () => {
  signer = await createTestSigner();
  jwks = await startJwksServer((await signer.jwks()).keys);
  upstreams = await startUpstreams();
  gateway = await startGateway(
    {
      ...upstreamEnv(upstreams),
      JWKS_URL: jwks.url,
      JWKS_REFETCH_COOLDOWN_MS: '200',
      UPSTREAM_TIMEOUT_MS: '500',
      // Every request here comes from 127.0.0.1; the per-IP limit has its own tests.
      RATE_LIMIT_AUTH_PER_IP: '1000',
    },
    { listen: true },
  );
  ({ app, url: gatewayUrl } = gateway);
});

afterAll(async () => {
  await gateway?.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
  await jwks?.close();
});

const lastSeen = (service: string) => upstreams[service]!.seen.at(-1)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('routing', () => {
  it('has exactly the route table of DESIGN 2 and 6', () => {
    expect(
      PROXY_ROUTES.map((r) => [r.prefix, r.service, r.access, r.limits, ...(r.consent ? [true] : [])]),
    ).toEqual(EXPECTED_ROUTES);
    expect(PROXY_ROUTES.filter((r) => r.websocket).map((r) => r.prefix)).toEqual(['/v1/voice']);
  });

  it('sends every prefix, the prefix itself and paths below it, to its service unchanged', async () => {
    const token = await signer.token();
    for (const [prefix, service] of EXPECTED_ROUTES) {
      for (const url of [prefix, `${prefix}/some/deeper/path?limit=5&cursor=abc`]) {
        const before = upstreams[service]!.seen.length;
        const res = await app.inject({ method: 'GET', url, headers: { ...bearer(token), ...CONSENT } });
        expect(res.statusCode, url).toBe(200);
        expect(res.json(), url).toMatchObject({ service, method: 'GET', url });
        expect(upstreams[service]!.seen.length, url).toBe(before + 1);
      }
    }
  });

  it('passes method, body and content type through', async () => {
    const token = await signer.token();
    const body = JSON.stringify({ title: 'buy milk', priority: 'high' });
    for (const method of ['POST', 'PATCH', 'PUT', 'DELETE'] as const) {
      const res = await app.inject({
        method,
        url: '/v1/tasks/0190f0f0-0000-7000-8000-000000000000',
        headers: { ...bearer(token), 'content-type': 'application/json' },
        payload: body,
      });
      expect(res.statusCode).toBe(200);
      const seen = lastSeen('tasks');
      expect(seen.method).toBe(method);
      expect(JSON.parse(seen.body)).toEqual(JSON.parse(body));
      expect(seen.headers['content-type']).toBe('application/json');
    }
  });

  it('answers unknown routes with the 404 envelope and never proxies look-alike prefixes', async () => {
    const token = await signer.token();
    for (const url of ['/v1/nothing-here', '/v1/tasksx', '/v1/taskss/1', '/', '/v2/tasks']) {
      const before = upstreams.tasks!.seen.length;
      const res = await app.inject({ method: 'GET', url, headers: bearer(token) });
      expect(res.statusCode, url).toBe(404);
      const body = res.json();
      expect(body.error.code).toBe('not_found');
      expect(body.error.request_id).toBe(res.headers['x-request-id']);
      expect(upstreams.tasks!.seen.length).toBe(before);
    }
  });

  it('passes a service’s own responses through unchanged, error envelopes included, without retrying', async () => {
    const envelope = {
      error: { code: 'not_available_yet', message: 'later', request_id: 'from-the-service' },
    };
    upstreams.ai!.override = async (_request, reply) =>
      reply.code(503).header('retry-after', '7').header('x-service-header', 'kept').send(envelope);
    try {
      const before = upstreams.ai!.seen.length;
      const res = await app.inject({
        method: 'GET',
        url: '/v1/ai/breakdown/generate',
        headers: { ...bearer(await signer.token()), ...CONSENT },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual(envelope);
      expect(res.headers['retry-after']).toBe('7');
      expect(res.headers['x-service-header']).toBe('kept');
      expect(upstreams.ai!.seen.length).toBe(before + 1);
    } finally {
      upstreams.ai!.override = undefined;
    }
  });
});

describe('authentication', () => {
  it('lets public prefixes through without a token', async () => {
    for (const [prefix, service] of EXPECTED_ROUTES.filter(([, , access]) => access === 'public')) {
      const res = await app.inject({ method: 'POST', url: `${prefix}/x`, payload: {} });
      expect(res.statusCode, prefix).toBe(200);
      expect(res.json().service).toBe(service);
    }
  });

  it('answers 401 unauthorized on every bearer prefix without a token, before the service sees it', async () => {
    for (const [prefix] of EXPECTED_ROUTES.filter(([, , access]) => access === 'bearer')) {
      const counts = Object.values(upstreams).map((u) => u.seen.length);
      const res = await app.inject({ method: 'GET', url: `${prefix}/x` });
      expect(res.statusCode, prefix).toBe(401);
      expect(res.json().error).toMatchObject({
        code: 'unauthorized',
        request_id: res.headers['x-request-id'],
      });
      expect(Object.values(upstreams).map((u) => u.seen.length)).toEqual(counts);
    }
  });

  it('fetches the key set once for many requests and tokens', async () => {
    const keys = await startJwksServer((await signer.jwks()).keys);
    const fresh = await startGateway({ ...upstreamEnv(upstreams), JWKS_URL: keys.url });
    const freshApp = fresh.app;
    try {
      const tokens = await Promise.all(Array.from({ length: 5 }, () => signer.token()));
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          freshApp.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(tokens[i % 5]!) }),
        ),
      );
      expect(results.map((r) => r.statusCode)).toEqual(Array(40).fill(200));
      expect(keys.fetches).toBe(1);
    } finally {
      await fresh.close();
      await keys.close();
    }
  });

  it('refetches the key set for an unknown kid, at most once per cooldown', async () => {
    const rotated = await createTestSigner();
    const token = await rotated.token();
    await sleep(250);
    // identity publishes the new key: the first token naming it triggers one refetch and passes.
    jwks.keys = [...jwks.keys, ...(await rotated.jwks()).keys];
    const before = jwks.fetches;
    const ok = await app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(token) });
    expect(ok.statusCode).toBe(200);
    expect(jwks.fetches).toBe(before + 1);

    // A kid nobody publishes: one refetch, then the cooldown holds further ones back.
    const stranger = await (await createTestSigner()).token();
    await sleep(250);
    const first = await app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(stranger) });
    const second = await app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(stranger) });
    expect([first.json().error.code, second.json().error.code]).toEqual(['invalid_token', 'invalid_token']);
    expect(jwks.fetches).toBe(before + 2);
  });
});

describe('headers', () => {
  it('echoes a sane X-Request-Id and forwards it to the service', async () => {
    const id = 'client-req-0001';
    const res = await app.inject({
      method: 'GET',
      url: '/v1/tasks',
      headers: { ...bearer(await signer.token()), 'x-request-id': id },
    });
    expect(res.headers['x-request-id']).toBe(id);
    expect(lastSeen('tasks').headers['x-request-id']).toBe(id);
  });

  it('keeps the gateway’s request id in the response even when the service answers another', async () => {
    upstreams.tasks!.override = async (_request, reply) =>
      reply.header('x-request-id', 'not-ours-123').send({});
    try {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/tasks',
        headers: { ...bearer(await signer.token()), 'x-request-id': 'ours-12345' },
      });
      expect(res.headers['x-request-id']).toBe('ours-12345');
    } finally {
      upstreams.tasks!.override = undefined;
    }
  });

  it('strips internal and forwarding headers a client sends and sets its own', async () => {
    const token = await signer.token();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await app.inject({
      method: 'GET',
      url: '/v1/tasks',
      headers: {
        ...bearer(token),
        'x-user-id': '0190f0f0-0000-7000-8000-000000000000',
        'X-User-Tier': 'pro',
        'x-internal-caller': 'usage',
        'x-auth-user': 'admin',
        'x-forwarded-for': '10.0.0.1',
        forwarded: 'for=10.0.0.1',
        'x-real-ip': '10.0.0.1',
        'x-client-version': '1.2.3',
        traceparent,
      },
    });
    const seen = lastSeen('tasks').headers;
    for (const name of [
      'x-user-id',
      'x-user-tier',
      'x-internal-caller',
      'x-auth-user',
      'forwarded',
      'x-real-ip',
    ])
      expect(seen[name], name).toBeUndefined();
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.authorization).toBe(`Bearer ${token}`);
    expect(seen['x-client-version']).toBe('1.2.3');
    // Without telemetry in this process the client's trace context passes through untouched.
    expect(seen.traceparent).toBe(traceparent);
  });
});

describe('upstream failures', () => {
  it('answers 503 service_unavailable in the envelope when a service is down', async () => {
    const down = await startGateway({
      ...upstreamEnv(upstreams),
      TASKS_URL: await closedPortUrl(),
      JWKS_URL: jwks.url,
    });
    const downApp = down.app;
    try {
      const res = await downApp.inject({
        method: 'GET',
        url: '/v1/tasks/1',
        headers: { ...bearer(await signer.token()), 'x-request-id': 'down-req-0001' },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        error: {
          code: 'service_unavailable',
          message: expect.any(String),
          request_id: 'down-req-0001',
        },
      });
      expect(res.headers['x-request-id']).toBe('down-req-0001');
      // Other services are unaffected.
      const other = await downApp.inject({ method: 'POST', url: '/v1/sessions/anonymous', payload: {} });
      expect(other.statusCode).toBe(200);
    } finally {
      await down.close();
    }
  });

  it('answers 504 gateway_timeout when a service does not answer in time', async () => {
    upstreams.usage!.override = async () => {
      await sleep(1_500);
      return { late: true };
    };
    try {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/credits/balance',
        headers: bearer(await signer.token()),
      });
      expect(res.statusCode).toBe(504);
      expect(res.json().error.code).toBe('gateway_timeout');
    } finally {
      upstreams.usage!.override = undefined;
    }
  });

  it('cancels the service call when the client hangs up before the answer, without logging a failure', async () => {
    let seenAt = 0;
    let closedAt = 0;
    const logsBefore = gateway.logs.lines.length;
    upstreams.ai!.override = async (_request, reply) => {
      seenAt = performance.now();
      // Never answers: only a cancellation (or the 500 ms upstream timeout) ends this request.
      await new Promise<void>((resolve) => reply.raw.once('close', resolve));
      closedAt = performance.now();
      return reply;
    };
    try {
      const req = httpRequest(`${gatewayUrl}/v1/ai/breakdown/generate`, {
        method: 'POST',
        headers: { ...bearer(await signer.token()), ...CONSENT, 'content-type': 'application/json' },
      });
      req.on('error', () => undefined);
      req.end(JSON.stringify({ input_text: 'plan the week', granularity: 2 }));
      await eventually(async () => seenAt > 0, 5_000, 5);
      req.destroy();
      await eventually(async () => closedAt > 0, 5_000, 5);
      // Closed by the hang-up, well before the upstream timeout would have cut it.
      expect(closedAt - seenAt).toBeLessThan(400);
      await sleep(100);
      const lines = gateway.logs.parsed().slice(logsBefore);
      expect(lines.filter((l) => l.msg === 'request failed')).toEqual([]);
      expect(lines.some((l) => l.msg === 'client closed the request; the service call was cancelled')).toBe(
        true,
      );
    } finally {
      upstreams.ai!.override = undefined;
    }
  });

  it('streams a response as it comes instead of buffering it', async () => {
    let finish: () => void = () => undefined;
    upstreams.ai!.override = async (_request, reply) => {
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream' });
      reply.raw.write('data: first\n\n');
      await new Promise<void>((resolve) => (finish = resolve));
      reply.raw.end('data: last\n\n');
      return reply;
    };
    try {
      const token = await signer.token();
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest(
          `${gatewayUrl}/v1/ai/chat`,
          { headers: { ...bearer(token), ...CONSENT } },
          resolve,
        );
        req.on('error', reject);
        req.end();
      });
      expect(response.statusCode).toBe(200);
      const [first] = (await once(response, 'data')) as [Buffer];
      expect(first.toString()).toBe('data: first\n\n');
      finish();
      const [last] = (await once(response, 'data')) as [Buffer];
      expect(last.toString()).toBe('data: last\n\n');
    } finally {
      upstreams.ai!.override = undefined;
    }
  });
});

describe('websocket', () => {
  const wsUrl = (path: string) => `${gatewayUrl.replace(/^http/, 'ws')}${path}`;

  it('proxies the voice WebSocket without a bearer token (the first message authenticates)', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const ws = new WebSocket(wsUrl('/v1/voice/stream'), {
      headers: { 'x-request-id': 'ws-request-0001', traceparent, 'x-user-id': 'someone' },
    });
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'auth', token: 'checked-by-voice' }));
    const [message] = (await once(ws, 'message')) as [Buffer];
    expect(String(message)).toBe('voice:{"type":"auth","token":"checked-by-voice"}');
    ws.close();
    const handshake = upstreams.voice!.upgrades.at(-1)!;
    expect(handshake.url).toBe('/v1/voice/stream');
    expect(handshake.headers['x-request-id']).toBe('ws-request-0001');
    expect(handshake.headers.traceparent).toBe(traceparent);
    expect(handshake.headers['x-user-id']).toBeUndefined();
  });

  it('still wants a bearer token for plain HTTP under the voice prefix', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/voice/stream' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
  });

  it('refuses upgrades on prefixes without WebSocket support', async () => {
    const ws = new WebSocket(wsUrl('/v1/tasks'), { headers: bearer(await signer.token()) });
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(404);
    ws.on('error', () => undefined);
    ws.terminate();
  });
});
