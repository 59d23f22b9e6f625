import { request as httpRequest } from 'node:http';
import {
  buildTestApp,
  eventually,
  fakeReplies,
  startFakeOpenAi,
  type FakeOpenAi,
  type TestApp,
} from '@offload/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AiRuntime } from '../src/deps.js';
import {
  BREAKDOWN_URL,
  aiService,
  breakdownBody,
  caller,
  generate,
  startFakeUsage,
  type Caller,
  type FakeUsage,
} from './support.js';

let t: TestApp<AiRuntime>;
let fake: FakeOpenAi;
let usage: FakeUsage;
let baseUrl: string;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  // The default 20 s attempt timeout: a cancelled call that ends quickly was ended by the cancellation.
  t = await buildTestApp(aiService, { env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseUrl } });
  usage = await startFakeUsage(t.infra);
  baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await t?.close();
  await usage?.close();
  await fake?.close();
});

beforeEach(() => fake.reset());

const rpcCalls = (who: Caller, rpc: 'reserve' | 'commit' | 'release') =>
  usage.calls.filter((c) => {
    if (c.rpc !== rpc) return false;
    const opId = (c.body as { operation_id: string }).operation_id;
    return usage.holds.get(opId)?.userId === who.userId;
  }).length;

/** Reserves sent for the user, answered or not (`rpcCalls` sees only answered ones). */
const reservesSent = (who: Caller) =>
  usage.calls.filter((c) => c.rpc === 'reserve' && (c.body as { user_id: string }).user_id === who.userId)
    .length;

/**
 * The `ai.request.completed` events in the outbox for a user, oldest first, once every record of the
 * calls so far is written (they are written after the answer goes out).
 */
async function eventsOf(who: Caller) {
  await t.runtime.background.stop();
  const rows = await t.runtime.database.sql<{ payload: { data: Record<string, unknown> } }[]>`
    select payload from ai.outbox where type = 'ai.request.completed'
      and payload->>'subject' = ${who.userId} order by created_at`;
  return rows.map((r) => r.payload.data);
}

/** Sends a request over a real socket and hangs up once the provider has it (or once `until` holds). */
async function sendAndHangUp(who: Caller, whenReceived: number, until?: () => boolean) {
  const req = httpRequest(`${baseUrl}${BREAKDOWN_URL}`, {
    method: 'POST',
    headers: { ...who.headers, 'content-type': 'application/json' },
  });
  req.on('error', () => undefined);
  req.end(JSON.stringify(breakdownBody()));
  await eventually(async () => (until ? until() : fake.received.length >= whenReceived), 5_000, 10);
  const hungUpAt = performance.now();
  req.destroy();
  return hungUpAt;
}

describe('charging: reserve before the provider, commit only on success', () => {
  it('a successful call counts once', async () => {
    const who = await caller(t);
    const res = await generate(t, who);
    expect(res.statusCode).toBe(200);
    expect(usage.committed(who.userId)).toBe(1);
    expect(usage.held(who.userId)).toBe(0);
    expect(rpcCalls(who, 'reserve')).toBe(1);
    expect(rpcCalls(who, 'commit')).toBe(1);
    expect(rpcCalls(who, 'release')).toBe(0);
    const reserve = usage.calls.find(
      (c) => c.rpc === 'reserve' && (c.body as { user_id: string }).user_id === who.userId,
    )!.body;
    expect(reserve).toMatchObject({
      user_id: who.userId,
      tier: 'free',
      resource: { kind: 'meter', feature: 'ai_breakdown', install_id: who.installId },
      amount: 1,
    });
    expect((reserve as { ttl_ms: number }).ttl_ms).toBeGreaterThan(3 * 20_000 + 4_000);
    expect(await eventsOf(who)).toEqual([
      expect.objectContaining({ feature: 'breakdown', outcome: 'succeeded', charged: true, attempts: 1 }),
    ]);
  });

  it('a provider failure never counts: the hold is released before the answer', async () => {
    const who = await caller(t);
    fake.setDefault(fakeReplies.serverError(500));
    const res = await generate(t, who);
    expect(res.statusCode).toBe(502);
    expect(usage.committed(who.userId)).toBe(0);
    expect(usage.held(who.userId)).toBe(0);
    expect(usage.released(who.userId)).toBe(1);
    expect(await eventsOf(who)).toEqual([
      expect.objectContaining({ outcome: 'failed', charged: false, attempts: 3 }),
    ]);
  });

  it.each([
    ['an invalid body (422)', { granularity: 3 }, 422],
    ['an oversized request (413)', { input_text: 'x'.repeat(4001), granularity: 3 }, 413],
    ['an invalid model answer (502)', 'invalid-answer', 502],
    ['a non-retriable provider 400 (502)', 'bad-request', 502],
  ] as const)('%s never counts', async (_name, body, status) => {
    const who = await caller(t);
    if (body === 'invalid-answer') fake.setDefault(fakeReplies.invalidJson());
    if (body === 'bad-request') fake.setDefault(fakeReplies.badRequest());
    const res = await generate(t, who, typeof body === 'string' ? breakdownBody() : body);
    expect(res.statusCode).toBe(status);
    expect(usage.committed(who.userId)).toBe(0);
    expect(usage.held(who.userId)).toBe(0);
    expect(usage.released(who.userId)).toBe(1);
  });

  it('an inference-limited call never counts', async () => {
    const who = await caller(t);
    for (let i = 0; i < 20; i++) expect((await generate(t, who)).statusCode).toBe(200);
    const limited = await generate(t, who);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('inference_rate_limited');
    expect(usage.committed(who.userId)).toBe(20);
    expect(usage.held(who.userId)).toBe(0);
    expect(usage.released(who.userId)).toBe(1);
  });

  it('a call the client cancels aborts the provider request and never counts', async () => {
    const who = await caller(t);
    fake.setDefault(fakeReplies.hang());
    const hungUpAt = await sendAndHangUp(who, 1);
    await eventually(async () => fake.received[0]!.closedByClient, 5_000, 10);
    // Aborted by the cancellation, long before the 20 s attempt timeout.
    expect(performance.now() - hungUpAt).toBeLessThan(2_000);
    await eventually(async () => usage.released(who.userId) === 1, 5_000, 10);
    expect(usage.committed(who.userId)).toBe(0);
    expect(usage.held(who.userId)).toBe(0);
    await eventually(async () => (await eventsOf(who)).length === 1);
    expect(await eventsOf(who)).toEqual([
      expect.objectContaining({ outcome: 'cancelled', charged: false, attempts: 1 }),
    ]);
    // And it was not retried.
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.received).toHaveLength(1);
  });

  it('a client that leaves while the quota is being reserved: the provider is never called, the hold is returned', async () => {
    const who = await caller(t);
    const resume = usage.pauseReserves();
    try {
      await sendAndHangUp(who, 0, () => reservesSent(who) === 1);
      // The hang-up reaches the service while the reserve is still unanswered.
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      resume();
    }
    await eventually(async () => usage.released(who.userId) === 1, 5_000, 10);
    expect(usage.held(who.userId)).toBe(0);
    expect(usage.committed(who.userId)).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.received).toHaveLength(0);
    expect(usage.committed(who.userId)).toBe(0);
  });

  it('a client that leaves during the token check: nothing is reserved and the provider is never called', async () => {
    const who = await caller(t);
    const verifier = t.runtime.verifier;
    const verify = verifier.verify.bind(verifier);
    let checking = false;
    // A slow token check (a key-set refetch, say): the hang-up lands while it runs.
    verifier.verify = async (token) => {
      checking = true;
      await new Promise((r) => setTimeout(r, 300));
      return verify(token);
    };
    try {
      await sendAndHangUp(who, 0, () => checking);
      await new Promise((r) => setTimeout(r, 600));
    } finally {
      verifier.verify = verify;
    }
    expect(reservesSent(who)).toBe(0);
    expect(fake.received).toHaveLength(0);
  });

  it('a client that leaves during a retry wait stops the retries and is not charged', async () => {
    const who = await caller(t);
    fake.enqueue(fakeReplies.rateLimited(2), fakeReplies.simpleSteps());
    await sendAndHangUp(who, 1);
    await eventually(async () => usage.released(who.userId) === 1, 5_000, 10);
    await new Promise((r) => setTimeout(r, 2_300));
    expect(fake.received).toHaveLength(1);
    expect(usage.committed(who.userId)).toBe(0);
  });

  it('a slow answer that arrives after the client left is not charged', async () => {
    const who = await caller(t);
    fake.enqueue(fakeReplies.withLatency(300, fakeReplies.simpleSteps()));
    await sendAndHangUp(who, 1);
    await eventually(async () => usage.released(who.userId) === 1, 5_000, 10);
    expect(usage.committed(who.userId)).toBe(0);
    expect(fake.received[0]!.closedByClient).toBe(true);
  });

  it('at the quota edge: the last unit is granted, the next call is 429 quota_exceeded', async () => {
    const who = await caller(t);
    usage.setQuota(who.userId, 2);
    fake.setDefault(fakeReplies.serverError(503));
    expect((await generate(t, who)).statusCode).toBe(502);
    fake.reset();
    expect((await generate(t, who)).statusCode).toBe(200);
    expect((await generate(t, who)).statusCode).toBe(200);
    const over = await generate(t, who);
    expect(over.statusCode).toBe(429);
    expect(over.json().error.code).toBe('quota_exceeded');
    expect(usage.committed(who.userId)).toBe(2);
    expect(fake.received).toHaveLength(2);
  });
});

describe('when usage does not answer', () => {
  it('answers 503 service_unavailable and never calls the provider', async () => {
    usage.stop();
    const res = await generate(t, await caller(t));
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('service_unavailable');
    expect(fake.received).toHaveLength(0);
  });
});
