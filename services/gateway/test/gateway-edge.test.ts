import { createTestSigner } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayRuntime } from '../src/deps.js';
import { PROXY_ROUTES, type ProxyRoute } from '../src/domain/routes.js';
import {
  bearer,
  natsEnv,
  startGateway,
  startUpstreams,
  upstreamEnv,
  type TestGateway,
  type Upstream,
} from './support.js';

// What every response of the edge carries or leaves out (DESIGN 6): security headers, CORS from
// configuration, hop-by-hop hygiene, no Server / X-Powered-By, and Deprecation / Sunset from the
// route table.

let upstreams: Record<string, Upstream>;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
let gateway: TestGateway;

/** A deprecated test route: 90 days between deprecation and sunset, the minimum DESIGN 4 allows. */
const LEGACY: ProxyRoute = {
  prefix: '/v1/legacy-tasks',
  service: 'tasks',
  access: 'bearer',
  limits: ['user'],
  deprecation: {
    since: '2026-01-01T00:00:00Z',
    sunset: '2026-04-01T00:00:00Z',
    link: 'https://docs.offload.example/migrations/legacy-tasks',
  },
};

beforeAll(async () => {
  signer = await createTestSigner();
  upstreams = await startUpstreams();
  gateway = await startGateway(upstreamEnv(upstreams), {
    jwks: signer.jwks,
    routes: [...PROXY_ROUTES, LEGACY],
  });
});

afterAll(async () => {
  await gateway?.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
});

const API_CSP = "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'";

describe('security headers', () => {
  it('are on the gateway’s own answers, on proxied answers and on errors', async () => {
    const token = await signer.token();
    const answers = [
      await gateway.app.inject({ url: '/v1/health' }),
      await gateway.app.inject({ url: '/v1/tasks', headers: bearer(token) }),
      await gateway.app.inject({ url: '/v1/tasks' }),
      await gateway.app.inject({ url: '/v1/nothing-here' }),
    ];
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 401, 404]);
    for (const res of answers) {
      expect(res.headers).toMatchObject({
        'content-security-policy': API_CSP,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cross-origin-resource-policy': 'same-origin',
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
      });
    }
  });

  it('no Server or X-Powered-By header, not even when a service sends them', async () => {
    upstreams.tasks!.override = async (_request, reply) =>
      reply.header('server', 'nginx/1.22.1').header('x-powered-by', 'Express').send({ ok: true });
    try {
      const res = await gateway.app.inject({ url: '/v1/tasks', headers: bearer(await signer.token()) });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ ok: true });
      expect(res.headers.server).toBeUndefined();
      expect(res.headers['x-powered-by']).toBeUndefined();
    } finally {
      upstreams.tasks!.override = undefined;
    }
    const own = await gateway.app.inject({ url: '/v1/health' });
    expect(own.headers.server).toBeUndefined();
    expect(own.headers['x-powered-by']).toBeUndefined();
  });
});

describe('hop-by-hop headers', () => {
  it('a client’s hop-by-hop headers (and those its Connection header names) never reach a service', async () => {
    await gateway.app.inject({
      url: '/v1/tasks',
      headers: {
        ...bearer(await signer.token()),
        connection: 'keep-alive, x-client-hop',
        'x-client-hop': 'secret',
        'keep-alive': 'timeout=600',
        'proxy-authorization': 'Basic YTpi',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        trailer: 'expires',
        upgrade: 'h2c',
        'x-kept': 'yes',
      },
    });
    const seen = upstreams.tasks!.seen.at(-1)!.headers;
    for (const name of [
      'x-client-hop',
      'proxy-authorization',
      'proxy-connection',
      'te',
      'trailer',
      'upgrade',
    ])
      expect(seen[name], name).toBeUndefined();
    // The gateway's own connection to the service is keep-alive, whatever the client asked for.
    expect(seen['keep-alive']).toBeUndefined();
    expect(seen['x-kept']).toBe('yes');
  });

  it('a service’s hop-by-hop headers (and those its Connection header names) never reach the client', async () => {
    upstreams.tasks!.override = async (_request, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'application/json',
        connection: 'keep-alive, x-upstream-hop',
        'keep-alive': 'timeout=5',
        'x-upstream-hop': 'internal',
        'proxy-authenticate': 'Basic realm="inside"',
        'x-kept': 'yes',
      });
      reply.raw.end('{"ok":true}');
      return reply;
    };
    try {
      const res = await gateway.app.inject({ url: '/v1/tasks', headers: bearer(await signer.token()) });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ ok: true });
      for (const name of ['x-upstream-hop', 'keep-alive', 'proxy-authenticate'])
        expect(res.headers[name], name).toBeUndefined();
      expect(res.headers.connection ?? 'keep-alive').not.toContain('x-upstream-hop');
      expect(res.headers['x-kept']).toBe('yes');
    } finally {
      upstreams.tasks!.override = undefined;
    }
  });
});

describe('CORS', () => {
  it('none by default: no Access-Control-* header, and a preflight is just an unauthenticated request', async () => {
    const origin = 'https://app.offload.example';
    const res = await gateway.app.inject({
      url: '/v1/tasks',
      headers: { ...bearer(await signer.token()), origin },
    });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const preflight = await gateway.app.inject({
      method: 'OPTIONS',
      url: '/v1/tasks',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBe(401);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows exactly the configured origins, answering preflights before any token check', async () => {
    const allowed = 'https://app.offload.example';
    const gw = await startGateway(
      { ...upstreamEnv(upstreams), CORS_ORIGINS: `${allowed}, http://localhost:5173` },
      { jwks: signer.jwks },
    );
    try {
      const before = upstreams.tasks!.seen.length;
      const preflight = await gw.app.inject({
        method: 'OPTIONS',
        url: '/v1/tasks',
        headers: {
          origin: allowed,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, idempotency-key',
        },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(allowed);
      expect(preflight.headers['access-control-allow-methods']).toBe('GET, HEAD, POST, PUT, PATCH, DELETE');
      expect(String(preflight.headers['access-control-allow-headers'])).toContain('x-offload-cloud-opt-in');
      expect(preflight.headers['access-control-max-age']).toBe('600');
      expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
      expect(upstreams.tasks!.seen.length).toBe(before);

      const res = await gw.app.inject({
        url: '/v1/tasks',
        headers: { ...bearer(await signer.token()), origin: allowed },
      });
      expect(res.headers['access-control-allow-origin']).toBe(allowed);
      expect(String(res.headers['access-control-expose-headers'])).toContain('ratelimit-remaining');
      expect(String(res.headers['access-control-expose-headers'])).toContain('x-request-id');
      expect(res.headers.vary).toContain('Origin');

      const stranger = await gw.app.inject({
        url: '/v1/tasks',
        headers: { ...bearer(await signer.token()), origin: 'https://evil.example' },
      });
      expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await gw.close();
    }
  });
});

describe('deprecation', () => {
  it('a deprecated route sends Deprecation, Sunset and Link; others do not', async () => {
    const token = await signer.token();
    const res = await gateway.app.inject({ url: '/v1/legacy-tasks/1', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
    expect(upstreams.tasks!.seen.at(-1)!.url).toBe('/v1/legacy-tasks/1');
    expect(res.headers.deprecation).toBe(`@${Date.parse('2026-01-01T00:00:00Z') / 1000}`);
    expect(res.headers.sunset).toBe('Wed, 01 Apr 2026 00:00:00 GMT');
    expect(res.headers.link).toBe(
      '<https://docs.offload.example/migrations/legacy-tasks>; rel="deprecation"; type="text/html"',
    );
    // Even a refusal tells the client the route is going away.
    const refused = await gateway.app.inject({ url: '/v1/legacy-tasks/1' });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers.sunset).toBe('Wed, 01 Apr 2026 00:00:00 GMT');

    const current = await gateway.app.inject({ url: '/v1/tasks/1', headers: bearer(token) });
    expect(current.headers.deprecation).toBeUndefined();
    expect(current.headers.sunset).toBeUndefined();
  });

  it('a sunset less than 90 days after the deprecation keeps the gateway from starting', async () => {
    const tooSoon: ProxyRoute = {
      ...LEGACY,
      deprecation: { since: '2026-01-01T00:00:00Z', sunset: '2026-03-31T23:59:59Z' },
    };
    await expect(
      createGatewayRuntime(loadGatewayConfig({ ...natsEnv(), ...upstreamEnv(upstreams) }), {
        routes: [...PROXY_ROUTES, tooSoon],
      }),
    ).rejects.toThrow(/at least 90 days/);
  });
});
