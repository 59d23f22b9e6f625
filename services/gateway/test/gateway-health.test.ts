import { GatewayHealth } from '@offload/contracts';
import { createLogger } from '@offload/platform/logger';
import { createTestSigner, LogCapture } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGatewayApp, SERVICE_VERSION } from '../src/app.js';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayRuntime } from '../src/deps.js';
import { closedPortUrl, natsEnv, startUpstreams, upstreamEnv, type Upstream } from './support.js';

let upstreams: Record<string, Upstream>;
const logs = new LogCapture();

beforeAll(async () => {
  upstreams = await startUpstreams();
});

afterAll(async () => {
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
});

async function gateway(env: Record<string, string>) {
  const signer = await createTestSigner();
  const runtime = await createGatewayRuntime(
    loadGatewayConfig({ ...natsEnv(), APP_ENV: 'test', HEALTH_TIMEOUT_MS: '400', ...env }),
    { logger: createLogger({ service: 'gateway', destination: logs }), jwks: signer.jwks },
  );
  const app = await buildGatewayApp(runtime);
  return {
    app,
    async close() {
      await app.close();
      await runtime.close();
    },
  };
}

describe('GET /v1/health', () => {
  it('is ok with 200 when every service is ready', async () => {
    const gw = await gateway(upstreamEnv(upstreams));
    try {
      const res = await gw.app.inject({ method: 'GET', url: '/v1/health' });
      expect(res.statusCode).toBe(200);
      const body = GatewayHealth.parse(res.json());
      expect(body).toEqual({
        status: 'ok',
        service: 'gateway',
        version: SERVICE_VERSION,
        environment: 'test',
        checks: { identity: 'ok', ai: 'ok', usage: 'ok', tasks: 'ok', billing: 'ok', voice: 'ok' },
      });
    } finally {
      await gw.close();
    }
  });

  it('is degraded with 503 when a service is down, not ready, or too slow, probing all at once', async () => {
    upstreams.ai!.ready = 503;
    upstreams.usage!.ready = 'hang';
    upstreams.billing!.ready = 'hang';
    upstreams.voice!.ready = 'hang';
    const gw = await gateway({ ...upstreamEnv(upstreams), TASKS_URL: await closedPortUrl() });
    try {
      const started = Date.now();
      const res = await gw.app.inject({ method: 'GET', url: '/v1/health' });
      const elapsed = Date.now() - started;
      expect(res.statusCode).toBe(503);
      expect(GatewayHealth.parse(res.json())).toEqual({
        status: 'degraded',
        service: 'gateway',
        version: SERVICE_VERSION,
        environment: 'test',
        checks: { identity: 'ok', ai: 'down', usage: 'down', tasks: 'down', billing: 'down', voice: 'down' },
      });
      // Three hanging services with a 400 ms timeout each: probed in parallel (one after the other
      // would take at least 1200 ms).
      expect(elapsed).toBeGreaterThanOrEqual(390);
      expect(elapsed).toBeLessThan(1_150);
    } finally {
      upstreams.ai!.ready = 200;
      upstreams.usage!.ready = 200;
      upstreams.billing!.ready = 200;
      upstreams.voice!.ready = 200;
      await gw.close();
    }
  });

  it('needs no token and is not proxied', async () => {
    const gw = await gateway(upstreamEnv(upstreams));
    try {
      const res = await gw.app.inject({
        method: 'GET',
        url: '/v1/health',
        headers: { 'x-request-id': 'health-0001' },
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-request-id']).toBe('health-0001');
      expect(Object.values(upstreams).every((u) => u.seen.length === 0)).toBe(true);
    } finally {
      await gw.close();
    }
  });
});
