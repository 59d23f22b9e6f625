import { createTestSigner, eventually } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROXY_ROUTES } from '../src/domain/routes.js';
import { SERVICE_DOCUMENTS } from './fixtures/service-documents.js';
import { startGateway, startUpstreams, upstreamEnv, type TestGateway, type Upstream } from './support.js';

// One OpenAPI document for the whole API at /openapi.json and Swagger UI at /docs (DESIGN 6), built from
// every service's own document. (The browser test is gateway-docs.test.ts.)

let upstreams: Record<string, Upstream>;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
let gateway: TestGateway;

beforeAll(async () => {
  signer = await createTestSigner();
  upstreams = await startUpstreams();
  for (const [name, document] of Object.entries(SERVICE_DOCUMENTS)) upstreams[name]!.openapi = document;
  // A tasks document with paths the gateway does not send to tasks.
  upstreams.tasks!.openapi = {
    ...SERVICE_DOCUMENTS.tasks,
    paths: {
      ...(SERVICE_DOCUMENTS.tasks as { paths: object }).paths,
      '/v1/credits/sneaky': { get: { summary: 'not routed to tasks', responses: {} } },
      '/internal/metrics': { get: { summary: 'not public', responses: {} } },
    },
  };
  gateway = await startGateway(upstreamEnv(upstreams), { jwks: signer.jwks });
});

afterAll(async () => {
  await gateway?.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
});

const getDocument = async (gw: TestGateway = gateway) => {
  const res = await gw.app.inject({ url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  return res.json();
};

describe('GET /openapi.json', () => {
  it('merges every service’s operations, with paths as clients call them through the gateway', async () => {
    const document = await getDocument();
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.title).toBe('Offload Cloud API');
    expect(Object.keys(document.paths).sort()).toEqual(
      [
        '/v1/.well-known/jwks.json',
        '/v1/ai/breakdown/generate',
        '/v1/auth/google',
        '/v1/auth/logout-all',
        '/v1/auth/refresh',
        '/v1/credits/balance',
        '/v1/health',
        '/v1/sessions/anonymous',
        '/v1/subscription',
        '/v1/tasks',
        '/v1/tasks/{id}',
        '/v1/usage',
        '/v1/usage/reconcile',
        '/v1/users/erasures/{erasure_id}',
        '/v1/users/me',
      ].sort(),
    );
    expect(Object.keys(document.paths['/v1/tasks/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    // Every operation is served by the route table; the proxy's catch-all routes are not documented.
    for (const path of Object.keys(document.paths))
      expect(path === '/v1/health' || PROXY_ROUTES.some((r) => path.startsWith(r.prefix)), path).toBe(true);
    expect(JSON.stringify(document.paths)).not.toContain('/*');
    expect(document['x-offload-services']).toEqual({
      identity: 'ok',
      ai: 'ok',
      usage: 'ok',
      tasks: 'ok',
      billing: 'ok',
      voice: 'ok',
    });
  });

  it('has one security scheme, the gateway’s answers, and merged tags', async () => {
    const document = await getDocument();
    expect(document.components.securitySchemes).toEqual({
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
    expect(document.paths['/v1/tasks'].get.security).toEqual([{ bearerAuth: [] }]);
    expect(document.paths['/v1/tasks'].get.responses['429'].description).toMatch(/rate limit/);
    expect(document.paths['/v1/tasks'].get.responses['503']).toBeDefined();
    // No limit on JWKS: no 429 there.
    expect(document.paths['/v1/.well-known/jwks.json'].get.responses['429']).toBeUndefined();
    expect(document.components.schemas.Steps).toEqual({ type: 'array', items: { type: 'object' } });
    const tags = document.tags?.map((t: { name: string }) => t.name) ?? [];
    expect(new Set(tags).size).toBe(tags.length);
  });

  it('leaves out a service that is down, says so, and picks it up once it answers', async () => {
    const gw = await startGateway(
      { ...upstreamEnv(upstreams), OPENAPI_REFRESH_MS: '200' },
      { jwks: signer.jwks },
    );
    upstreams.billing!.openapi = 503;
    try {
      const partial = await getDocument(gw);
      expect(partial.paths['/v1/subscription']).toBeUndefined();
      expect(partial.paths['/v1/tasks']).toBeDefined();
      expect(partial['x-offload-services'].billing).toBe('unavailable');
      expect(partial.info.description).toContain('Not available right now');
      expect(gw.logs.text()).toContain('could not load a service’s OpenAPI document');

      upstreams.billing!.openapi = SERVICE_DOCUMENTS.billing!;
      const full = await eventually(async () => {
        await new Promise((r) => setTimeout(r, 250));
        const document = await getDocument(gw);
        return document.paths['/v1/subscription'] ? document : undefined;
      }, 5_000);
      expect(full['x-offload-services'].billing).toBe('ok');
    } finally {
      upstreams.billing!.openapi = SERVICE_DOCUMENTS.billing!;
      await gw.close();
    }
  });

  it('keeps a service’s last good document while it is down', async () => {
    const gw = await startGateway(
      { ...upstreamEnv(upstreams), OPENAPI_REFRESH_MS: '100' },
      { jwks: signer.jwks },
    );
    try {
      expect((await getDocument(gw)).paths['/v1/credits/balance']).toBeDefined();
      upstreams.usage!.openapi = 500;
      await new Promise((r) => setTimeout(r, 150));
      await getDocument(gw); // triggers the refresh in the background
      await new Promise((r) => setTimeout(r, 150));
      const document = await getDocument(gw);
      expect(document.paths['/v1/credits/balance']).toBeDefined();
      expect(document['x-offload-services'].usage).toBe('ok');
    } finally {
      upstreams.usage!.openapi = SERVICE_DOCUMENTS.usage!;
      await gw.close();
    }
  });

  it('needs no token and is the same document Swagger UI reads', async () => {
    const document = await getDocument();
    const ui = await gateway.app.inject({ url: '/docs/json' });
    expect(ui.statusCode).toBe(200);
    expect(ui.json()).toEqual(document);
  });
});

describe('/docs', () => {
  it('serves Swagger UI with a content security policy that lets it run, and only from the gateway', async () => {
    const res = await gateway.app.inject({ url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('swagger-ui-bundle.js');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('http');
    const script = await gateway.app.inject({ url: '/docs/static/swagger-initializer.js' });
    expect(script.statusCode).toBe(200);
    expect(String(script.headers['content-security-policy'])).toContain("script-src 'self'");
  });
});
