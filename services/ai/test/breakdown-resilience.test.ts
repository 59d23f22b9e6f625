import { startTelemetry, type Telemetry } from '@offload/platform/telemetry';
import {
  buildTestApp,
  eventually,
  fakeReplies,
  startFakeOpenAi,
  type FakeOpenAi,
  type TestApp,
} from '@offload/testing';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AiRuntime } from '../src/deps.js';
import { aiService, caller, generate, startFakeUsage, type FakeUsage } from './support.js';

// Short attempts, so a hanging provider ends within seconds: 3 x 300 ms + at most 4 s of waiting.
const ATTEMPT_TIMEOUT_MS = 300;
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let t: TestApp<AiRuntime>;
let fake: FakeOpenAi;
let usage: FakeUsage;

beforeAll(async () => {
  process.env.OTEL_METRICS_EXPORTER = 'none';
  telemetry = startTelemetry({ serviceName: 'ai-test', spanProcessors: [new SimpleSpanProcessor(exporter)] });
  fake = await startFakeOpenAi();
  t = await buildTestApp(aiService, {
    env: {
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.baseUrl,
      OPENAI_ATTEMPT_TIMEOUT_MS: String(ATTEMPT_TIMEOUT_MS),
    },
  });
  usage = await startFakeUsage(t.infra);
});

afterAll(async () => {
  await t?.close();
  await usage?.close();
  await fake?.close();
  await telemetry?.shutdown();
});

beforeEach(() => {
  fake.reset();
  exporter.reset();
});

/** The last breakdown call's span and its attempt spans, in attempt order. */
function spansOfLastCall(): { call: ReadableSpan; attempts: ReadableSpan[] } {
  const spans = exporter.getFinishedSpans();
  const call = spans.filter((s) => s.name === 'ai.breakdown.generate').at(-1);
  expect(call).toBeDefined();
  const attempts = spans
    .filter(
      (s) => s.name === 'ai.provider.attempt' && s.parentSpanContext?.spanId === call!.spanContext().spanId,
    )
    .sort((a, b) => Number(a.attributes['ai.attempt']) - Number(b.attributes['ai.attempt']));
  return { call: call!, attempts };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - started };
}

const errorOf = (res: { statusCode: number; json(): unknown }) => ({
  status: res.statusCode,
  code: (res.json() as { error?: { code: string } }).error?.code,
});

describe('provider retries (DESIGN 7)', () => {
  it('429 then 200 succeeds with 2 attempts, honouring Retry-After', async () => {
    fake.enqueue(fakeReplies.rateLimited(1), fakeReplies.simpleSteps());
    const { result: res, ms } = await timed(async () => generate(t, await caller(t)));
    expect(res.statusCode).toBe(200);
    expect(fake.received).toHaveLength(2);
    expect(ms).toBeGreaterThanOrEqual(1_000);
    const { call, attempts } = spansOfLastCall();
    expect(attempts.map((s) => s.attributes['ai.attempt'])).toEqual([1, 2]);
    expect(attempts[0]!.attributes['error.type']).toBe('rate_limited');
    expect(attempts[0]!.attributes['http.response.status_code']).toBe(429);
    expect(attempts[1]!.attributes['error.type']).toBeUndefined();
    expect(call.attributes['ai.attempts']).toBe(2);
    expect(call.attributes['ai.waited_ms']).toBeGreaterThanOrEqual(1_000);
    expect(call.attributes['error.type']).toBeUndefined();
  });

  it('500 x3 is 502 provider_request_failed after exactly 3 attempts', async () => {
    fake.setDefault(fakeReplies.serverError(500));
    const res = await generate(t, await caller(t));
    expect(errorOf(res)).toEqual({ status: 502, code: 'provider_request_failed' });
    // Nothing more arrives later either.
    await new Promise((r) => setTimeout(r, 700));
    expect(fake.received).toHaveLength(3);
    const { call, attempts } = spansOfLastCall();
    expect(attempts.map((s) => [s.attributes['ai.attempt'], s.attributes['error.type']])).toEqual([
      [1, 'server_error'],
      [2, 'server_error'],
      [3, 'server_error'],
    ]);
    expect(call.attributes).toMatchObject({
      'ai.attempts': 3,
      'ai.error_class': 'server_error',
      'ai.stop_reason': 'attempts_exhausted',
      'error.type': 'server_error',
    });
  });

  it('503 then 200 succeeds; a 503 whose Retry-After exceeds the 4 s budget is not retried', async () => {
    fake.enqueue(fakeReplies.unavailable(), fakeReplies.simpleSteps());
    expect((await generate(t, await caller(t))).statusCode).toBe(200);
    expect(fake.received).toHaveLength(2);

    fake.reset();
    fake.enqueue(fakeReplies.unavailable(10), fakeReplies.simpleSteps());
    const { result: res, ms } = await timed(async () => generate(t, await caller(t)));
    expect(errorOf(res)).toEqual({ status: 502, code: 'provider_request_failed' });
    expect(fake.received).toHaveLength(1);
    expect(ms).toBeLessThan(1_000);
    expect(spansOfLastCall().call.attributes['ai.stop_reason']).toBe('delay_budget_exhausted');
  });

  it('a 400 is not retried: 502 provider_request_failed after 1 attempt', async () => {
    fake.setDefault(fakeReplies.badRequest());
    const res = await generate(t, await caller(t));
    expect(errorOf(res)).toEqual({ status: 502, code: 'provider_request_failed' });
    await new Promise((r) => setTimeout(r, 400));
    expect(fake.received).toHaveLength(1);
    const { call, attempts } = spansOfLastCall();
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.attributes['error.type']).toBe('client_error');
    expect(call.attributes['ai.stop_reason']).toBe('not_retriable');
  });

  it('a hanging provider is 504 provider_timeout within attempt timeout x 3 + the 4 s budget', async () => {
    fake.setDefault(fakeReplies.hang());
    const { result: res, ms } = await timed(async () => generate(t, await caller(t)));
    expect(errorOf(res)).toEqual({ status: 504, code: 'provider_timeout' });
    expect(fake.received).toHaveLength(3);
    expect(ms).toBeGreaterThanOrEqual(3 * ATTEMPT_TIMEOUT_MS);
    expect(ms).toBeLessThan(3 * ATTEMPT_TIMEOUT_MS + 4_000);
    // Each attempt was abandoned by closing its connection, not left hanging.
    await eventually(async () => fake.received.every((r) => r.closedByClient));
    const { attempts } = spansOfLastCall();
    expect(attempts.map((s) => s.attributes['error.type'])).toEqual(['timeout', 'timeout', 'timeout']);
  });

  it('a dropped connection is a network error and retried', async () => {
    fake.enqueue(fakeReplies.drop(), fakeReplies.simpleSteps());
    expect((await generate(t, await caller(t))).statusCode).toBe(200);
    expect(fake.received).toHaveLength(2);
    expect(spansOfLastCall().attempts[0]!.attributes['error.type']).toBe('network');
  });

  it('an invalid answer gets one retry: invalid then valid is 200', async () => {
    fake.enqueue(fakeReplies.invalidJson(), fakeReplies.simpleSteps());
    const res = await generate(t, await caller(t));
    expect(res.statusCode).toBe(200);
    expect(fake.received).toHaveLength(2);
    // Tokens of both answers are counted: the provider billed both.
    expect(res.json().usage.output_tokens).toBeGreaterThan(0);
    expect(spansOfLastCall().attempts[0]!.attributes['error.type']).toBe('invalid_response');
  });

  it('two invalid answers are 502 provider_invalid_response after 2 attempts', async () => {
    fake.enqueue(fakeReplies.invalidJson(), fakeReplies.text('{"items": []}'), fakeReplies.simpleSteps());
    const res = await generate(t, await caller(t));
    expect(errorOf(res)).toEqual({ status: 502, code: 'provider_invalid_response' });
    expect(fake.received).toHaveLength(2);
    // A body that is not a chat completion at all counts as an invalid answer too.
    fake.reset();
    fake.enqueue(fakeReplies.malformedBody(), fakeReplies.malformedBody());
    expect(errorOf(await generate(t, await caller(t)))).toEqual({
      status: 502,
      code: 'provider_invalid_response',
    });
    expect(fake.received).toHaveLength(2);
  });

  it('waits at most 4 s in total: Retry-After 3 s twice stops after the second attempt', async () => {
    fake.enqueue(fakeReplies.rateLimited(3), fakeReplies.rateLimited(3), fakeReplies.simpleSteps());
    const { result: res, ms } = await timed(async () => generate(t, await caller(t)));
    expect(errorOf(res)).toEqual({ status: 502, code: 'provider_request_failed' });
    expect(fake.received).toHaveLength(2);
    expect(ms).toBeGreaterThanOrEqual(3_000);
    expect(ms).toBeLessThan(4_000 + 3 * ATTEMPT_TIMEOUT_MS);
    const { call } = spansOfLastCall();
    expect(call.attributes['ai.waited_ms']).toBe(3_000);
    expect(call.attributes['ai.stop_reason']).toBe('delay_budget_exhausted');
  });
});
