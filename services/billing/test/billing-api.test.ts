import { buildTestApp, type ServiceModule, type TestApp } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBillingApp } from '../src/app.js';
import { loadBillingConfig, type BillingConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createBillingRuntime, type BillingRuntime } from '../src/deps.js';

const billingService: ServiceModule<BillingConfig, BillingRuntime> = {
  name: 'billing',
  migrate,
  loadConfig: loadBillingConfig,
  createRuntime: createBillingRuntime,
  buildApp: buildBillingApp,
};

let t: TestApp<BillingRuntime>;

beforeAll(async () => {
  t = await buildTestApp(billingService);
});

afterAll(async () => {
  await t?.close();
});

describe('billing routes before the billing issue lands', () => {
  it.each([
    ['GET', '/v1/subscription'],
    ['POST', '/v1/subscription/checkout'],
    ['POST', '/v1/subscription/cancel'],
    ['POST', '/v1/subscription/purchase-credits'],
  ] as const)('%s %s answers 503 not_available_yet to a verified user', async (method, url) => {
    const res = await t.app.inject({
      method,
      url,
      headers: { ...(await t.auth()), 'x-request-id': 'req-billing-01' },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['x-request-id']).toBe('req-billing-01');
    expect(res.json()).toEqual({
      error: { code: 'not_available_yet', message: expect.any(String), request_id: 'req-billing-01' },
    });
  });

  it('verifies the bearer token on subscription routes: 401 without one', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/subscription/checkout' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatchObject({ code: 'unauthorized', request_id: expect.any(String) });
  });

  it('answers the Checkout.com webhook 503 not_available_yet without asking for a JWT', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/webhooks/checkout',
      headers: { 'cko-signature': 'abc123' },
      payload: { id: 'evt_1', type: 'payment_approved' },
    });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'not_available_yet', request_id: expect.any(String) });
  });

  it('owns only its paths: other webhooks are 404', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/webhooks/other', payload: {} });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });

  it('is live and ready with Postgres and NATS', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({
      status: 'ok',
      service: 'billing',
      checks: { postgres: 'ok', nats: 'ok' },
    });
  });
});
