import { BreakdownGenerateResponse } from '@offload/contracts';
import {
  buildTestApp,
  fakeReplies,
  nestedSteps,
  startFakeOpenAi,
  type FakeOpenAi,
  type TestApp,
} from '@offload/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { depthOf } from '../src/domain/breakdown.js';
import type { AiRuntime } from '../src/deps.js';
import {
  aiService,
  BREAKDOWN_URL,
  breakdownBody,
  caller,
  freshIp,
  generate,
  startFakeUsage,
  type FakeUsage,
} from './support.js';

let t: TestApp<AiRuntime>;
let fake: FakeOpenAi;
let usage: FakeUsage;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  t = await buildTestApp(aiService, {
    env: { OPENAI_API_KEY: 'sk-test-key', OPENAI_BASE_URL: fake.baseUrl, OPENAI_MODEL: 'test-model' },
  });
  usage = await startFakeUsage(t.infra);
});

afterAll(async () => {
  await t?.close();
  await usage?.close();
  await fake?.close();
});

beforeEach(() => fake.reset());

const expectError = (res: { statusCode: number; json(): unknown }, status: number, code: string) => {
  expect(res.statusCode).toBe(status);
  expect((res.json() as { error: { code: string } }).error.code).toBe(code);
};

describe('POST /v1/ai/breakdown/generate: the answer', () => {
  it('answers steps, provider, latency, token usage and the prompt version, in the contract’s shape', async () => {
    const who = await caller(t);
    const res = await generate(t, who, breakdownBody(), { 'x-request-id': 'req-breakdown-0001' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-request-id']).toBe('req-breakdown-0001');
    const body = BreakdownGenerateResponse.strict().parse(res.json());
    expect(body.steps).toEqual([
      { title: 'Step 1', estimated_minutes: 5, substeps: [] },
      { title: 'Step 2', estimated_minutes: 5, substeps: [] },
      { title: 'Step 3', estimated_minutes: 5, substeps: [] },
    ]);
    expect(body.provider).toBe('openai');
    expect(body.prompt_version).toBe('breakdown.v1');
    expect(body.usage.input_tokens).toBeGreaterThan(0);
    expect(body.usage.output_tokens).toBeGreaterThan(0);
    expect(body.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it('asks the configured model for a JSON object with the service’s key, once, without SDK retries', async () => {
    const who = await caller(t);
    expect((await generate(t, who)).statusCode).toBe(200);
    expect(fake.received).toHaveLength(1);
    const [request] = fake.received;
    expect(request!.headers.authorization).toBe('Bearer sk-test-key');
    expect(request!.body).toMatchObject({
      model: 'test-model',
      response_format: { type: 'json_object' },
      max_completion_tokens: 1_500,
    });
    expect(request!.stream).toBe(false);
    const messages = request!.body!.messages as { role: string; content: string }[];
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(messages[1]!.content).toContain('Clean the garage before the weekend');
    expect(messages[1]!.content).toContain('I have two hours');
    expect(messages[1]!.content).toContain('cleaning');
  });

  it('trims a model answer 5 levels deep to 3 levels, and 25 steps a level to 20', async () => {
    fake.enqueue(fakeReplies.fiveLevels(2));
    const deep = await generate(t, await caller(t));
    expect(deep.statusCode).toBe(200);
    const steps = BreakdownGenerateResponse.parse(deep.json()).steps;
    expect(depthOf(steps)).toBe(3);
    expect(steps[0]!.substeps[0]!.substeps[0]).toEqual({
      title: 'step 1.1.1',
      estimated_minutes: 3,
      substeps: [],
    });

    fake.enqueue(fakeReplies.steps(nestedSteps(2, 25)));
    const wide = await generate(t, await caller(t));
    expect(wide.statusCode).toBe(200);
    const wideSteps = BreakdownGenerateResponse.parse(wide.json()).steps;
    expect(wideSteps).toHaveLength(20);
    expect(wideSteps.every((s) => s.substeps.length === 20)).toBe(true);
  });

  it('changes the prompt with granularity: 1 asks for just the main steps, 5 for tiny micro-steps', async () => {
    const systemOf = async (granularity: number) => {
      fake.reset();
      expect((await generate(t, await caller(t), breakdownBody({ granularity }))).statusCode).toBe(200);
      const messages = fake.received[0]!.body!.messages as { role: string; content: string }[];
      return { system: messages[0]!.content, body: fake.received[0]!.body! };
    };
    const one = await systemOf(1);
    const five = await systemOf(5);
    expect(one.system).toMatch(/just the main steps/);
    expect(one.system).not.toMatch(/micro-steps/);
    expect(five.system).toMatch(/tiny micro-steps/);
    expect(one.body.max_completion_tokens).toBeLessThan(five.body.max_completion_tokens as number);
  });

  it('accepts a request without hints, template ids or task id, and with a task id', async () => {
    const minimal = await generate(t, await caller(t), { input_text: 'Write the report', granularity: 1 });
    expect(minimal.statusCode).toBe(200);
    const withTask = await generate(t, await caller(t), breakdownBody({ task_id: 'local-task-42' }));
    expect(withTask.statusCode).toBe(200);
  });
});

describe('guardrails: each limit, and one past it', () => {
  const ok = async (body: unknown) => {
    const res = await generate(t, await caller(t), body);
    expect(res.statusCode, res.body).toBe(200);
  };
  const invalid = async (body: unknown, field: string) => {
    const res = await generate(t, await caller(t), body);
    expectError(res, 422, 'validation_error');
    expect(
      res
        .json()
        .error.details.map((d: { field: string }) => d.field)
        .join(' '),
    ).toContain(field);
  };

  it('context_hints: 32 items pass, 33 are 422', async () => {
    await ok(breakdownBody({ input_text: 'x', context_hints: Array(32).fill('h'), template_ids: [] }));
    await invalid(
      breakdownBody({ input_text: 'x', context_hints: Array(33).fill('h'), template_ids: [] }),
      'context_hints',
    );
  });

  it('a hint of 280 characters passes, 281 is 422; an empty hint is 422', async () => {
    await ok(breakdownBody({ context_hints: ['h'.repeat(280)] }));
    await invalid(breakdownBody({ context_hints: ['h'.repeat(281)] }), 'context_hints');
    await invalid(breakdownBody({ context_hints: [''] }), 'context_hints');
  });

  it('template_ids: 32 items pass, 33 are 422', async () => {
    await ok(breakdownBody({ template_ids: Array(32).fill('t') }));
    await invalid(breakdownBody({ template_ids: Array(33).fill('t') }), 'template_ids');
  });

  it('a template id of 128 characters passes, 129 is 422', async () => {
    await ok(breakdownBody({ template_ids: ['t'.repeat(128)] }));
    await invalid(breakdownBody({ template_ids: ['t'.repeat(129)] }), 'template_ids');
  });

  it('a total of 4000 characters passes, 4001 is 413 request_too_large', async () => {
    await ok({ input_text: 'x'.repeat(4000), granularity: 3 });
    expectError(
      await generate(t, await caller(t), { input_text: 'x'.repeat(4001), granularity: 3 }),
      413,
      'request_too_large',
    );
  });

  it('counts hints and template ids in the total', async () => {
    const hints = Array(4).fill('h'.repeat(250));
    await ok({
      input_text: 'x'.repeat(2990),
      granularity: 2,
      context_hints: hints,
      template_ids: ['t'.repeat(10)],
    });
    const res = await generate(t, await caller(t), {
      input_text: 'x'.repeat(2990),
      granularity: 2,
      context_hints: hints,
      template_ids: ['t'.repeat(11)],
    });
    expectError(res, 413, 'request_too_large');
    expect(fake.received).toHaveLength(1);
  });

  it('granularity: 0 is 422, 1 and 5 pass, 6 is 422; non-integers and strings are 422', async () => {
    await invalid(breakdownBody({ granularity: 0 }), 'granularity');
    await ok(breakdownBody({ granularity: 1 }));
    await ok(breakdownBody({ granularity: 5 }));
    await invalid(breakdownBody({ granularity: 6 }), 'granularity');
    await invalid(breakdownBody({ granularity: 2.5 }), 'granularity');
    await invalid(breakdownBody({ granularity: '3' }), 'granularity');
    await invalid({ input_text: 'x' }, 'granularity');
  });

  it('an unknown field is 422 and named in the details', async () => {
    await invalid(breakdownBody({ temperature: 2 }), 'temperature');
  });

  it('input_text must be present and non-empty', async () => {
    await invalid({ granularity: 3 }, 'input_text');
    await invalid(breakdownBody({ input_text: '' }), 'input_text');
  });

  it('never calls the provider for a rejected request', async () => {
    await invalid(breakdownBody({ granularity: 9 }), 'granularity');
    expectError(
      await generate(t, await caller(t), { input_text: 'x'.repeat(4001), granularity: 3 }),
      413,
      'request_too_large',
    );
    expect(fake.received).toHaveLength(0);
  });
});

describe('order of checks: token -> consent -> quota -> body -> inference limit -> size', () => {
  it('a missing or bad token is 401 before anything else', async () => {
    const res = await t.app.inject({ method: 'POST', url: BREAKDOWN_URL, payload: { nonsense: true } });
    expectError(res, 401, 'unauthorized');
    const forged = await t.app.inject({
      method: 'POST',
      url: BREAKDOWN_URL,
      headers: { authorization: 'Bearer a.b.c', 'x-offload-cloud-opt-in': 'true' },
      payload: breakdownBody(),
    });
    expectError(forged, 401, 'invalid_token');
  });

  it('without X-Offload-Cloud-Opt-In: true it is 403 consent_required, before quota or body', async () => {
    const who = await caller(t);
    const reservesBefore = usage.calls.filter((c) => c.rpc === 'reserve').length;
    for (const value of [undefined, 'false', '1', 'yes', '']) {
      const res = await generate(t, who, { nonsense: true }, { 'x-offload-cloud-opt-in': value });
      expectError(res, 403, 'consent_required');
    }
    expect(usage.calls.filter((c) => c.rpc === 'reserve')).toHaveLength(reservesBefore);
    expect(fake.received).toHaveLength(0);
    // The value is compared case-insensitively.
    expect((await generate(t, who, breakdownBody(), { 'x-offload-cloud-opt-in': 'TRUE' })).statusCode).toBe(
      200,
    );
  });

  it('quota comes before the body: a user over quota gets 429 quota_exceeded even for a bad body', async () => {
    const who = await caller(t);
    usage.setQuota(who.userId, 0);
    const res = await generate(t, who, { nonsense: true });
    expectError(res, 429, 'quota_exceeded');
    const retryAfter = res.json().error.retry_after;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(31 * 86_400);
    expect(res.headers['retry-after']).toBe(String(retryAfter));
    expect(fake.received).toHaveLength(0);
  });

  it('the body comes before the inference limit: rejected bodies do not use it up', async () => {
    const who = await caller(t);
    for (let i = 0; i < 5; i++)
      expectError(await generate(t, who, { granularity: 3 }), 422, 'validation_error');
    for (let i = 0; i < 20; i++) expect((await generate(t, who)).statusCode).toBe(200);
    expectError(await generate(t, who), 429, 'inference_rate_limited');
  });

  it('the inference limit comes before the size check, and oversized requests count towards it', async () => {
    const who = await caller(t);
    const big = { input_text: 'x'.repeat(4001), granularity: 3 };
    for (let i = 0; i < 20; i++) expectError(await generate(t, who, big), 413, 'request_too_large');
    expectError(await generate(t, who, big), 429, 'inference_rate_limited');
    expect(fake.received).toHaveLength(0);
  });

  it('a token without an install id cannot be metered per device: 403 forbidden', async () => {
    const token = await t.signer.token({ did: undefined, anon: false });
    const res = await t.app.inject({
      method: 'POST',
      url: BREAKDOWN_URL,
      headers: { authorization: `Bearer ${token}`, 'x-offload-cloud-opt-in': 'true' },
      payload: breakdownBody(),
    });
    expectError(res, 403, 'forbidden');
  });
});

describe('inference limits', () => {
  it('20 calls a minute per install id pass, the 21st is 429 inference_rate_limited with retry_after', async () => {
    const who = await caller(t);
    for (let i = 0; i < 20; i++) {
      // Every call from another address, so only the install id limit can bite.
      const res = await generate(t, { ...who, headers: { ...who.headers, 'x-forwarded-for': freshIp() } });
      expect(res.statusCode).toBe(200);
    }
    const res = await generate(t, { ...who, headers: { ...who.headers, 'x-forwarded-for': freshIp() } });
    expectError(res, 429, 'inference_rate_limited');
    const retryAfter = res.json().error.retry_after;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.headers['retry-after']).toBe(String(retryAfter));
    // Another device of the same user still has its own allowance.
    const otherDevice = await caller(t, { userId: who.userId, ip: freshIp() });
    expect((await generate(t, otherDevice)).statusCode).toBe(200);
  });

  it('120 calls a minute per IP pass, the 121st is 429; another IP is unaffected', async () => {
    const ip = freshIp();
    for (let i = 0; i < 120; i++) {
      const res = await generate(t, await caller(t, { ip }));
      expect(res.statusCode).toBe(200);
    }
    expectError(await generate(t, await caller(t, { ip })), 429, 'inference_rate_limited');
    expect((await generate(t, await caller(t))).statusCode).toBe(200);
  });
});
