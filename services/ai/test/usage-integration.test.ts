import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { App } from '@offload/platform/http';
import { createLogger } from '@offload/platform/logger';
import {
  buildTestApp,
  eventually,
  fakeReplies,
  LogCapture,
  startFakeOpenAi,
  type FakeOpenAi,
  type TestApp,
} from '@offload/testing';
import { buildUsageApp } from '@offload/usage/app';
import { loadUsageConfig } from '@offload/usage/config';
import { createUsageRuntime, type UsageRuntime } from '@offload/usage/deps';
import { migrate as migrateUsage } from '@offload/usage/migrate';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AiRuntime } from '../src/deps.js';
import { aiService, BREAKDOWN_URL, breakdownBody, caller, generate, type Caller } from './support.js';

/**
 * The ai service charging against the real usage service: its runtime (reservation RPCs, meters in its
 * own schema) on this file's database and NATS namespace, trusting the same test signing key.
 */
const QUOTA = 5;
let t: TestApp<AiRuntime>;
let fake: FakeOpenAi;
let usageRuntime: UsageRuntime;
let usageApp: App;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  t = await buildTestApp(aiService, {
    env: {
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.baseUrl,
      // 50 calls of one device in the concurrency test: the inference limit is not what is tested here.
      AI_INFERENCE_LIMIT_PER_INSTALL: '1000',
      AI_INFERENCE_LIMIT_PER_IP: '1000',
      USAGE_RPC_TIMEOUT_MS: '10000',
    },
  });
  await migrateUsage(t.infra.databaseUrl);
  usageRuntime = await createUsageRuntime(
    loadUsageConfig({
      DATABASE_URL: t.infra.databaseUrl,
      NATS_URL: t.infra.natsUrl,
      NATS_SUBJECT_PREFIX: t.infra.natsPrefix,
      FREE_MONTHLY_AI_ACTIONS: String(QUOTA),
    }),
    { logger: createLogger({ service: 'usage', destination: new LogCapture() }), jwks: t.signer.jwks },
  );
  usageApp = await buildUsageApp(usageRuntime);
});

afterAll(async () => {
  await usageApp?.close();
  await usageRuntime?.close();
  await t?.close();
  await fake?.close();
});

beforeEach(() => fake.reset());

/** The user's `ai_breakdown` meter this month as `GET /v1/usage` shows it (0 when absent). */
async function serverCount(who: Caller): Promise<number> {
  const res = await usageApp.inject({
    method: 'GET',
    url: '/v1/usage',
    headers: { authorization: who.headers.authorization! },
  });
  expect(res.statusCode).toBe(200);
  const meter = (res.json().data as { feature: string; server_count: number }[]).find(
    (m) => m.feature === 'ai_breakdown',
  );
  return meter?.server_count ?? 0;
}

describe('charging against the real usage service', () => {
  it('counts successes once, never failures or rejected calls, and refuses past the quota', async () => {
    const who = await caller(t);
    expect((await generate(t, who)).statusCode).toBe(200);
    expect(await serverCount(who)).toBe(1);

    fake.setDefault(fakeReplies.serverError(500));
    expect((await generate(t, who)).statusCode).toBe(502);
    fake.setDefault(fakeReplies.invalidJson());
    expect((await generate(t, who)).statusCode).toBe(502);
    expect((await generate(t, who, { input_text: 'x'.repeat(4001), granularity: 3 })).statusCode).toBe(413);
    expect((await generate(t, who, { granularity: 3 })).statusCode).toBe(422);
    expect(await serverCount(who)).toBe(1);

    fake.reset();
    for (let i = 1; i < QUOTA; i++) expect((await generate(t, who)).statusCode).toBe(200);
    expect(await serverCount(who)).toBe(QUOTA);
    const over = await generate(t, who);
    expect(over.statusCode).toBe(429);
    expect(over.json().error.code).toBe('quota_exceeded');
    expect(await serverCount(who)).toBe(QUOTA);
  });

  it('two devices of one user share the user’s monthly quota', async () => {
    const userId = randomUUID();
    const phone = await caller(t, { userId });
    const tablet = await caller(t, { userId });
    for (let i = 0; i < 3; i++) expect((await generate(t, phone)).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) expect((await generate(t, tablet)).statusCode).toBe(200);
    expect((await generate(t, tablet)).statusCode).toBe(429);
    expect(await serverCount(phone)).toBe(QUOTA);
  });

  it('50 concurrent calls at the quota edge let exactly the remaining number through', async () => {
    const who = await caller(t);
    for (let i = 0; i < 2; i++) expect((await generate(t, who)).statusCode).toBe(200);
    fake.reset();
    fake.setDefault(fakeReplies.withLatency(50, fakeReplies.simpleSteps()));
    const results = await Promise.all(Array.from({ length: 50 }, () => generate(t, who)));
    const statuses = results.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(QUOTA - 2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(50 - (QUOTA - 2));
    expect(
      results.filter((r) => r.statusCode === 429).every((r) => r.json().error.code === 'quota_exceeded'),
    ).toBe(true);
    expect(fake.received).toHaveLength(QUOTA - 2);
    expect(await serverCount(who)).toBe(QUOTA);
  });
});

describe('cancellation against the real usage service', () => {
  it('a call the client abandons is released in usage and never counted', async () => {
    const who = await caller(t);
    const baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    fake.setDefault(fakeReplies.hang());
    const req = httpRequest(`${baseUrl}${BREAKDOWN_URL}`, {
      method: 'POST',
      headers: { ...who.headers, 'content-type': 'application/json' },
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify(breakdownBody()));
    await eventually(async () => fake.received.length === 1, 5_000, 10);
    req.destroy();
    const statuses = await eventually(async () => {
      const rows = await usageRuntime.database.sql<{ status: string }[]>`
        select status from usage.reservations where user_id = ${who.userId}`;
      return rows.length === 1 && rows[0]!.status !== 'held' ? rows.map((r) => r.status) : undefined;
    });
    expect(statuses).toEqual(['released']);
    expect(await serverCount(who)).toBe(0);
  });
});
