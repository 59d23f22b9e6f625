import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeReplies, nestedSteps, startFakeOpenAi, type FakeOpenAi } from '../src/fake-openai.js';

let fake: FakeOpenAi;

beforeAll(async () => {
  fake = await startFakeOpenAi();
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => fake.reset());

interface Completion {
  object: string;
  choices: { message: { content: string } }[];
  usage: { prompt_tokens: number };
}
interface ErrorShape {
  error: { type: string };
}
const jsonOf = async <T>(res: Response) => (await res.json()) as T;

const chat = (body: Record<string, unknown> = {}, signal?: AbortSignal) =>
  fetch(`${fake.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-x' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }], ...body }),
    ...(signal ? { signal } : {}),
  });

describe('fake OpenAI server', () => {
  it('listens on 127.0.0.1 and answers a chat completion with the default reply', async () => {
    expect(fake.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const res = await chat();
    expect(res.status).toBe(200);
    const body = await jsonOf<Completion>(res);
    expect(body.object).toBe('chat.completion');
    expect(JSON.parse(body.choices[0]!.message.content).steps).toHaveLength(3);
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('plays the script in order, then falls back to the default; reset forgets both', async () => {
    fake.enqueue(fakeReplies.serverError(502), fakeReplies.rateLimited(7));
    fake.setDefault(fakeReplies.badRequest());
    expect((await chat()).status).toBe(502);
    const limited = await chat();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await jsonOf<ErrorShape>(limited)).error.type).toBe('rate_limit_error');
    expect((await chat()).status).toBe(400);
    expect(fake.received.map((r) => r.reply)).toEqual(['error', 'error', 'error']);
    fake.reset();
    expect(fake.received).toEqual([]);
    expect((await chat()).status).toBe(200);
  });

  it('records what it received', async () => {
    await chat({ temperature: 0 });
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0]).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      stream: false,
      closedByClient: false,
      body: { model: 'm', temperature: 0 },
    });
    expect(fake.received[0]!.headers.authorization).toBe('Bearer sk-x');
    expect(fake.receivedText()).toBe('hello');
  });

  it('waits a fixed latency before answering', async () => {
    fake.enqueue(fakeReplies.withLatency(150, fakeReplies.simpleSteps()));
    const started = performance.now();
    expect((await chat()).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('streams server-sent events ending in [DONE] when asked to', async () => {
    fake.enqueue(fakeReplies.text('abcdefgh'));
    const res = await chat({ stream: true, stream_options: { include_usage: true } });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('abcdefgh');
    expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(0);
  });

  it('hangs until the client gives up, and records that it did', async () => {
    fake.enqueue(fakeReplies.hang());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(chat({}, controller.signal)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.received[0]!.closedByClient).toBe(true);
  });

  it('serves invalid JSON content, 5 levels of steps, broken bodies and dropped connections', async () => {
    fake.enqueue(
      fakeReplies.invalidJson(),
      fakeReplies.fiveLevels(),
      fakeReplies.malformedBody(),
      fakeReplies.drop(),
    );
    const invalid = await jsonOf<Completion>(await chat());
    expect(() => JSON.parse(invalid.choices[0]!.message.content)).toThrow();
    const deep = await jsonOf<Completion>(await chat());
    expect(JSON.parse(deep.choices[0]!.message.content)).toEqual({ steps: nestedSteps(5, 2) });
    const broken = await chat();
    await expect(broken.json()).rejects.toThrow();
    await expect(chat()).rejects.toThrow();
  });

  it('answers 404 in OpenAI’s error shape for other paths', async () => {
    const res = await fetch(`${fake.baseUrl}/embeddings`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect((await jsonOf<ErrorShape>(res)).error.type).toBe('invalid_request_error');
  });
});

describe('nestedSteps', () => {
  it('builds step trees of the asked depth and width', () => {
    const depth = (steps: { substeps: unknown[] }[]): number =>
      steps.length === 0
        ? 0
        : 1 + Math.max(...steps.map((s) => depth(s.substeps as { substeps: unknown[] }[])));
    expect(depth(nestedSteps(5, 2) as { substeps: unknown[] }[])).toBe(5);
    expect(nestedSteps(1, 4)).toHaveLength(4);
  });
});
