import { createServer } from 'node:net';
import { fakeReplies, startFakeOpenAi, type FakeOpenAi } from '@offload/testing';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CompletionRequest } from '../src/domain/provider.js';
import { ProviderFailure } from '../src/domain/retry-policy.js';
import { createOpenAiProvider } from '../src/providers/openai-provider.js';

const ATTEMPT_TIMEOUT_MS = 250;
let fake: FakeOpenAi;

beforeAll(async () => {
  fake = await startFakeOpenAi();
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => fake.reset());

const provider = (baseUrl = fake.baseUrl) =>
  createOpenAiProvider({ apiKey: 'sk-adapter', baseUrl, model: 'm-1', attemptTimeoutMs: ATTEMPT_TIMEOUT_MS });
const request: CompletionRequest = { system: 'sys', user: 'usr', maxOutputTokens: 99, json: true };

async function failureOf(promise: Promise<unknown>): Promise<ProviderFailure> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderFailure);
  return error as ProviderFailure;
}

describe('OpenAI adapter: one attempt, every failure classified', () => {
  it('returns the answer text and token usage, asking for JSON with the configured model', async () => {
    fake.enqueue({
      kind: 'completion',
      content: '{"steps": []}',
      usage: { prompt_tokens: 11, completion_tokens: 7 },
    });
    const completion = await provider().complete(request, new AbortController().signal);
    expect(completion).toEqual({ text: '{"steps": []}', usage: { input_tokens: 11, output_tokens: 7 } });
    expect(fake.received[0]!.body).toMatchObject({
      model: 'm-1',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'usr' },
      ],
      max_completion_tokens: 99,
      response_format: { type: 'json_object' },
    });
    expect(fake.received[0]!.headers.authorization).toBe('Bearer sk-adapter');
  });

  it.each([
    [fakeReplies.rateLimited(2), 'rate_limited', 429, 2_000],
    [{ kind: 'error', status: 429, retryAfterMs: '1500' } as const, 'rate_limited', 429, 1_500],
    [fakeReplies.serverError(500), 'server_error', 500, undefined],
    [fakeReplies.unavailable(1), 'server_error', 503, 1_000],
    [fakeReplies.badRequest(), 'client_error', 400, undefined],
    [{ kind: 'error', status: 401 } as const, 'client_error', 401, undefined],
    [{ kind: 'error', status: 404 } as const, 'client_error', 404, undefined],
  ])('maps %j to %s, without retrying inside the SDK', async (reply, kind, status, retryAfterMs) => {
    fake.enqueue(reply, fakeReplies.simpleSteps());
    const failure = await failureOf(provider().complete(request, new AbortController().signal));
    expect(failure).toMatchObject({ code: kind, status, retryAfterMs });
    expect(fake.received).toHaveLength(1);
  });

  it('a hanging provider is a timeout after the attempt timeout, and the request is abandoned', async () => {
    fake.enqueue(fakeReplies.hang());
    const started = performance.now();
    const failure = await failureOf(provider().complete(request, new AbortController().signal));
    const ms = performance.now() - started;
    expect(failure.code).toBe('timeout');
    expect(ms).toBeGreaterThanOrEqual(ATTEMPT_TIMEOUT_MS - 5);
    expect(ms).toBeLessThan(ATTEMPT_TIMEOUT_MS + 1_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.received[0]!.closedByClient).toBe(true);
  });

  it('a slow answer counts as a timeout too (the timer covers reading the answer)', async () => {
    fake.enqueue(fakeReplies.withLatency(ATTEMPT_TIMEOUT_MS + 300, fakeReplies.simpleSteps()));
    expect((await failureOf(provider().complete(request, new AbortController().signal))).code).toBe(
      'timeout',
    );
  });

  it('a dropped connection and a refused connection are network errors', async () => {
    fake.enqueue(fakeReplies.drop());
    expect((await failureOf(provider().complete(request, new AbortController().signal))).code).toBe(
      'network',
    );
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const refused = provider(`http://127.0.0.1:${closedPort}/v1`);
    expect((await failureOf(refused.complete(request, new AbortController().signal))).code).toBe('network');
  });

  it('a 200 whose body is not JSON is an invalid response', async () => {
    fake.enqueue(fakeReplies.malformedBody());
    expect((await failureOf(provider().complete(request, new AbortController().signal))).code).toBe(
      'invalid_response',
    );
  });

  it('aborting the signal cancels the request on the wire', async () => {
    fake.enqueue(fakeReplies.hang());
    const controller = new AbortController();
    const pending = provider().complete(request, controller.signal);
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    expect((await failureOf(pending)).code).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.received[0]!.closedByClient).toBe(true);
    const already = new AbortController();
    already.abort();
    expect((await failureOf(provider().complete(request, already.signal))).code).toBe('cancelled');
    expect(fake.received).toHaveLength(1);
  });

  it('never puts the provider’s error text into the failure (it may quote the prompt)', async () => {
    fake.enqueue(fakeReplies.badRequest());
    const failure = await failureOf(provider().complete(request, new AbortController().signal));
    expect(failure.message).toBe('provider attempt failed: client_error');
    expect(JSON.stringify(failure.cause)).toBe('{"name":"BadRequestError"}');
  });
});

describe('the fake speaks OpenAI as the official SDK expects', () => {
  it('streams a chat completion as server-sent events, with usage when asked', async () => {
    fake.enqueue(fakeReplies.text('Hello from the fake, streamed 👋'));
    const client = new OpenAI({ apiKey: 'sk', baseURL: fake.baseUrl, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello from the fake, streamed 👋');
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(fake.received[0]!.stream).toBe(true);
  });

  it('answers errors in OpenAI’s error shape, which the SDK turns into its error classes', async () => {
    fake.enqueue(fakeReplies.rateLimited(3));
    const client = new OpenAI({ apiKey: 'sk', baseURL: fake.baseUrl, maxRetries: 0 });
    const error = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('3');
  });
});
