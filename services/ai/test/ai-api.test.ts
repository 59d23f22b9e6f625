import { buildTestApp, type TestApp } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiRuntime } from '../src/deps.js';
import { aiService, BREAKDOWN_URL, breakdownBody } from './support.js';

// No OPENAI_API_KEY here: the AI routes answer 503 provider_unavailable, everything else works.
let t: TestApp<AiRuntime>;

beforeAll(async () => {
  t = await buildTestApp(aiService);
});

afterAll(async () => {
  await t?.close();
});

describe('ai routes that have not landed yet', () => {
  it.each([
    ['POST', '/v1/ai/chat'],
    ['POST', '/v1/ai/subtasks/generate'],
    ['POST', '/v1/ai/notes/0190c6f4-0000-7000-8000-000000000000/convert'],
    ['GET', '/v1/ai'],
  ] as const)('%s %s answers 503 not_available_yet in the envelope', async (method, url) => {
    const res = await t.app.inject({
      method,
      url,
      headers: { ...(await t.auth()), 'x-request-id': 'req-ai-0001' },
      ...(method === 'POST' ? { payload: { message: 'hello' } } : {}),
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['x-request-id']).toBe('req-ai-0001');
    expect(res.json()).toEqual({
      error: { code: 'not_available_yet', message: expect.any(String), request_id: 'req-ai-0001' },
    });
  });

  it('verifies the bearer token first: 401 without one, invalid_token for a forged one', async () => {
    const missing = await t.app.inject({ method: 'POST', url: '/v1/ai/chat', payload: { message: 'x' } });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error).toMatchObject({ code: 'unauthorized', request_id: expect.any(String) });
    const token = await t.signer.token();
    const forged = await t.app.inject({
      method: 'POST',
      url: '/v1/ai/chat',
      headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` },
    });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().error.code).toBe('invalid_token');
  });

  it('owns only its prefix: a neighbour path is 404', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/aid', headers: await t.auth() });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });

  it('is live and ready with Postgres and NATS, with no provider key', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', service: 'ai', checks: { postgres: 'ok', nats: 'ok' } });
  });
});

describe('breakdown without a provider key', () => {
  it('answers 503 provider_unavailable after the token and consent checks, reserving nothing', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: BREAKDOWN_URL,
      headers: { ...(await t.auth()), 'x-offload-cloud-opt-in': 'true' },
      payload: breakdownBody(),
    });
    // No usage responder runs in this file: a reservation attempt would have been 503 service_unavailable.
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'provider_unavailable', request_id: expect.any(String) });

    const noConsent = await t.app.inject({
      method: 'POST',
      url: BREAKDOWN_URL,
      headers: await t.auth(),
      payload: breakdownBody(),
    });
    expect(noConsent.statusCode).toBe(403);
    expect(noConsent.json().error.code).toBe('consent_required');

    const noToken = await t.app.inject({ method: 'POST', url: BREAKDOWN_URL, payload: breakdownBody() });
    expect(noToken.statusCode).toBe(401);
  });

  it('says so once at start-up, without the key', () => {
    const lines = t.logs.parsed().filter((l) => String(l.msg).includes('OPENAI_API_KEY is not set'));
    expect(lines).toHaveLength(1);
  });

  it('documents the breakdown contract in its OpenAPI', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const operation = res.json().paths['/v1/ai/breakdown/generate'].post;
    const body = operation.requestBody.content['application/json'].schema;
    expect(Object.keys(body.properties).sort()).toEqual([
      'context_hints',
      'granularity',
      'input_text',
      'task_id',
      'template_ids',
    ]);
    expect(body.additionalProperties).toBe(false);
    expect(Object.keys(operation.responses)).toEqual(
      expect.arrayContaining(['200', '403', '413', '422', '429', '502', '503', '504']),
    );
  });
});
