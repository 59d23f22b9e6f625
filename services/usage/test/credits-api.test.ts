import { CreditBalance, newId } from '@offload/contracts';
import { buildTestApp, createTestSigner, type TestApp } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageRuntime } from '../src/deps.js';
import { KICKSTART_CONSUMER } from '../src/events/consumers/user-created.js';
import { grantKickstartCredits } from '../src/use-cases/grant-kickstart-credits.js';
import { usageService } from './support.js';

let t: TestApp<UsageRuntime>;

beforeAll(async () => {
  t = await buildTestApp(usageService);
});

afterAll(async () => {
  await t?.close();
});

const nextMidnightUtc = (now = new Date()) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();

/** GETs the balance and the reset times before and after, so a run across midnight UTC cannot flake. */
async function balanceOf(headers: Record<string, string>) {
  const before = nextMidnightUtc();
  const res = await t.app.inject({ method: 'GET', url: '/v1/credits/balance', headers });
  return { res, resets: [before, nextMidnightUtc()] };
}

describe('GET /v1/credits/balance', () => {
  it('answers zeros, not 404, for a user without ledger rows', async () => {
    const { res, resets } = await balanceOf(await t.auth());
    expect(res.statusCode).toBe(200);
    const { daily_reset_at, ...amounts } = res.json();
    expect(amounts).toEqual({ daily: 0, subscription: 0, purchased: 0, kickstart: 0, total: 0 });
    expect(resets).toContain(daily_reset_at);
  });

  it('shows the kickstart grant of the token’s user only, in the contract’s shape', async () => {
    const userId = newId();
    await grantKickstartCredits(t.runtime, { consumer: KICKSTART_CONSUMER, eventId: newId(), userId });
    const { res, resets } = await balanceOf(await t.auth({ sub: userId }));
    expect(res.statusCode).toBe(200);
    const { daily_reset_at, ...amounts } = CreditBalance.strict().parse(res.json());
    expect(amounts).toEqual({ daily: 0, subscription: 0, purchased: 0, kickstart: 5, total: 5 });
    expect(resets).toContain(daily_reset_at);
    const other = await t.app.inject({ method: 'GET', url: '/v1/credits/balance', headers: await t.auth() });
    expect(other.json().total).toBe(0);
  });

  it('answers 401 unauthorized without a token and invalid_token for a token of another key', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/v1/credits/balance' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error).toMatchObject({ code: 'unauthorized', request_id: expect.any(String) });

    const foreign = await createTestSigner();
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/credits/balance',
      headers: { authorization: `Bearer ${await foreign.token()}` },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('invalid_token');
  });

  it('answers 401 expired_token with refresh_required for an expired token', async () => {
    const past = Math.floor(Date.now() / 1000) - 60;
    const token = await t.signer.token({}, { expiresIn: past });
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/credits/balance',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatchObject({ code: 'expired_token', refresh_required: true });
  });

  it('reports ready when Postgres and NATS answer', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', service: 'usage', checks: { postgres: 'ok', nats: 'ok' } });
  });
});
