import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, startUpstreams, upstreamEnv, type TestGateway, type Upstream } from '../support.js';

// The client address (DESIGN 6): it keys the per-IP limits and reaches services as X-Forwarded-For.
// X-Forwarded-For counts only when it comes from a configured trusted proxy.

let upstreams: Record<string, Upstream>;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  upstreams = await startUpstreams();
});

afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
});

async function gateway(env: Record<string, string> = {}) {
  const started = await startGateway({ ...upstreamEnv(upstreams), ...env });
  gateways.push(started);
  return started;
}

const session = (gw: TestGateway, headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
  gw.app.inject({ method: 'POST', url: '/v1/sessions/anonymous', payload: {}, headers, remoteAddress });

const forwardedFor = () => upstreams.identity!.seen.at(-1)!.headers['x-forwarded-for'];

describe('client IP', () => {
  it('spoofed X-Forwarded-For from a client that is not a trusted proxy changes nothing', async () => {
    const gw = await gateway();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      // A fresh "address" every time, the way a client would try to reset its per-IP budget.
      const res = await session(gw, {
        'x-forwarded-for': `203.0.113.${i}`,
        'x-real-ip': `198.51.100.${i}`,
        forwarded: `for=192.0.2.${i}`,
      });
      statuses.push(res.statusCode);
      // The service learns the connection's address, not the claimed one.
      if (res.statusCode === 200) expect(forwardedFor()).toBe('127.0.0.1');
    }
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
    expect(upstreams.identity!.seen.at(-1)!.headers['x-real-ip']).toBeUndefined();
    expect(upstreams.identity!.seen.at(-1)!.headers.forwarded).toBeUndefined();
  });

  it('honours X-Forwarded-For from a trusted proxy: the nearest untrusted address is the client', async () => {
    const gw = await gateway({ TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' });
    // The client prepended a fake address; the proxies appended the real ones.
    const chain = '6.6.6.6, 203.0.113.7, 10.1.2.3';
    const first = await session(gw, { 'x-forwarded-for': chain });
    expect(first.statusCode).toBe(200);
    expect(forwardedFor()).toBe('203.0.113.7');

    // Budgets are per real client: 203.0.113.7 spends its 10, 198.51.100.4 still has its own.
    for (let i = 1; i < 10; i++)
      expect((await session(gw, { 'x-forwarded-for': chain })).statusCode).toBe(200);
    expect((await session(gw, { 'x-forwarded-for': chain })).statusCode).toBe(429);
    expect((await session(gw, { 'x-forwarded-for': '6.6.6.6, 198.51.100.4' })).statusCode).toBe(200);
    expect(forwardedFor()).toBe('198.51.100.4');
  });

  it('ignores X-Forwarded-For from an address outside the trusted list', async () => {
    const gw = await gateway({ TRUSTED_PROXIES: '10.0.0.0/8' });
    const res = await session(gw, { 'x-forwarded-for': '203.0.113.9' }, '192.0.2.50');
    expect(res.statusCode).toBe(200);
    expect(forwardedFor()).toBe('192.0.2.50');
  });
});
