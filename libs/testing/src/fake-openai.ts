import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A small OpenAI-compatible server for tests (DESIGN 14: third parties are replaced only at their network
 * boundary). It serves `POST /v1/chat/completions`, plain and streaming (`stream: true`, server-sent
 * events as OpenAI sends them), listens on 127.0.0.1 on a free port, and answers each request with the
 * next scripted reply (`enqueue`), or the default one when the script is used up. It records what it
 * received, including whether the client hung up before the answer was complete.
 */
export type FakeReply =
  /** A chat completion whose message content is `content`. */
  | {
      kind: 'completion';
      content: string;
      latencyMs?: number;
      usage?: { prompt_tokens: number; completion_tokens: number };
      finishReason?: 'stop' | 'length' | 'content_filter';
      /** Streaming only: pause between chunks. */
      chunkDelayMs?: number;
    }
  /** An HTTP error in OpenAI's error shape, with optional Retry-After / retry-after-ms headers. */
  | {
      kind: 'error';
      status: number;
      latencyMs?: number;
      retryAfter?: string;
      retryAfterMs?: string;
      code?: string;
    }
  /** A 200 whose body is not JSON at all (a broken upstream or proxy). */
  | { kind: 'malformed-body'; body: string; latencyMs?: number }
  /** Never answers; the request stays open until the client gives up (or the fake closes). */
  | { kind: 'hang' }
  /** Accepts the request, then destroys the connection without an answer (a network error). */
  | { kind: 'drop'; latencyMs?: number };

export interface FakeOpenAiRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: Record<string, unknown> | undefined;
  stream: boolean;
  receivedAt: number;
  /** The reply the fake chose for it. */
  reply: FakeReply['kind'];
  /** True once the client closed the connection before the answer was complete. */
  closedByClient: boolean;
}

export interface FakeOpenAi {
  /** Base URL for the SDK (`baseURL` / `OPENAI_BASE_URL`), ending in `/v1`. */
  baseUrl: string;
  received: FakeOpenAiRequest[];
  /** Scripts the next replies, in order. */
  enqueue(...replies: FakeReply[]): void;
  /** The reply used when the script is empty. */
  setDefault(reply: FakeReply): void;
  /** Forgets the script and what was received, and restores the initial default. */
  reset(): void;
  /** Message contents the fake received (system and user), joined; for asserting what reached it. */
  receivedText(): string;
  close(): Promise<void>;
}

/** Step trees nested `levels` deep with `width` steps per level, as a model might (over-)answer. */
export function nestedSteps(levels: number, width = 2, prefix = 'step '): unknown[] {
  return Array.from({ length: width }, (_, i) => ({
    title: `${prefix}${i + 1}`,
    estimated_minutes: levels,
    substeps: levels > 1 ? nestedSteps(levels - 1, width, `${prefix}${i + 1}.`) : [],
  }));
}

/** Ready-made replies for the scenarios tests script most. */
export const fakeReplies = {
  json: (value: unknown, options: { latencyMs?: number } = {}): FakeReply => ({
    kind: 'completion',
    content: JSON.stringify(value),
    ...options,
  }),
  steps: (steps: unknown[], options: { latencyMs?: number } = {}): FakeReply =>
    fakeReplies.json({ steps }, options),
  /** A valid answer of `count` flat steps. */
  simpleSteps: (count = 3, options: { latencyMs?: number } = {}): FakeReply =>
    fakeReplies.steps(
      Array.from({ length: count }, (_, i) => ({
        title: `Step ${i + 1}`,
        estimated_minutes: 5,
        substeps: [],
      })),
      options,
    ),
  /** JSON with 5 levels of steps (deeper than the contract's 3). */
  fiveLevels: (width = 2): FakeReply => fakeReplies.steps(nestedSteps(5, width)),
  /** Message content that is not valid JSON. */
  invalidJson: (): FakeReply => ({ kind: 'completion', content: '{"steps": [{"title": "unterminated' }),
  text: (content: string): FakeReply => ({ kind: 'completion', content }),
  rateLimited: (retryAfterSeconds?: number): FakeReply => ({
    kind: 'error',
    status: 429,
    code: 'rate_limit_exceeded',
    ...(retryAfterSeconds === undefined ? {} : { retryAfter: String(retryAfterSeconds) }),
  }),
  serverError: (status = 500): FakeReply => ({ kind: 'error', status }),
  unavailable: (retryAfterSeconds?: number): FakeReply => ({
    kind: 'error',
    status: 503,
    ...(retryAfterSeconds === undefined ? {} : { retryAfter: String(retryAfterSeconds) }),
  }),
  badRequest: (): FakeReply => ({ kind: 'error', status: 400, code: 'invalid_request_error' }),
  hang: (): FakeReply => ({ kind: 'hang' }),
  drop: (): FakeReply => ({ kind: 'drop' }),
  malformedBody: (): FakeReply => ({ kind: 'malformed-body', body: '<html>bad gateway</html>' }),
  withLatency: (latencyMs: number, reply: FakeReply): FakeReply => ({ ...reply, latencyMs }) as FakeReply,
};

export async function startFakeOpenAi(
  options: { defaultReply?: FakeReply; model?: string } = {},
): Promise<FakeOpenAi> {
  const initialDefault = options.defaultReply ?? fakeReplies.simpleSteps();
  let fallback = initialDefault;
  let script: FakeReply[] = [];
  const received: FakeOpenAiRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const wait = (ms: number | undefined) =>
    ms && ms > 0
      ? new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            resolve();
          }, ms);
          timers.add(timer);
        })
      : Promise.resolve();

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // The client went away mid-request; nothing to answer.
      if (!res.destroyed) res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return sendJson(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } });
    }
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const reply = script.shift() ?? fallback;
    const record: FakeOpenAiRequest = {
      method: req.method,
      path,
      headers: { ...req.headers },
      body,
      stream: body?.stream === true,
      receivedAt: Date.now(),
      reply: reply.kind,
      closedByClient: false,
    };
    received.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.closedByClient = true;
    });
    if (!body) {
      return sendJson(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
    }

    if (reply.kind === 'hang') return;
    await wait(reply.latencyMs);
    if (res.destroyed) return;
    switch (reply.kind) {
      case 'drop':
        req.socket.destroy();
        return;
      case 'malformed-body':
        res.writeHead(200, { 'content-type': 'application/json' }).end(reply.body);
        return;
      case 'error': {
        const headers: Record<string, string> = {};
        if (reply.retryAfter !== undefined) headers['retry-after'] = reply.retryAfter;
        if (reply.retryAfterMs !== undefined) headers['retry-after-ms'] = reply.retryAfterMs;
        return sendJson(
          res,
          reply.status,
          {
            error: {
              message: `fake error ${reply.status}`,
              type: reply.status === 429 ? 'rate_limit_error' : 'api_error',
              code: reply.code ?? null,
              param: null,
            },
          },
          headers,
        );
      }
      case 'completion':
        return record.stream ? streamCompletion(res, body, reply) : sendCompletion(res, body, reply);
    }
  }

  const modelOf = (body: Record<string, unknown>) =>
    typeof body.model === 'string' ? body.model : (options.model ?? 'fake-model');

  const usageOf = (body: Record<string, unknown>, reply: Extract<FakeReply, { kind: 'completion' }>) => {
    if (reply.usage)
      return { ...reply.usage, total_tokens: reply.usage.prompt_tokens + reply.usage.completion_tokens };
    const promptChars = JSON.stringify(body.messages ?? '').length;
    const prompt_tokens = Math.ceil(promptChars / 4);
    const completion_tokens = Math.ceil(reply.content.length / 4);
    return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
  };

  function sendCompletion(
    res: ServerResponse,
    body: Record<string, unknown>,
    reply: Extract<FakeReply, { kind: 'completion' }>,
  ) {
    sendJson(res, 200, {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: modelOf(body),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: reply.content, refusal: null },
          logprobs: null,
          finish_reason: reply.finishReason ?? 'stop',
        },
      ],
      usage: usageOf(body, reply),
    });
  }

  async function streamCompletion(
    res: ServerResponse,
    body: Record<string, unknown>,
    reply: Extract<FakeReply, { kind: 'completion' }>,
  ) {
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const model = modelOf(body);
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    for (const piece of splitContent(reply.content)) {
      await wait(reply.chunkDelayMs);
      if (res.destroyed) return;
      res.write(chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]));
    }
    res.write(chunk([{ index: 0, delta: {}, finish_reason: reply.finishReason ?? 'stop' }]));
    const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
    if (streamOptions?.include_usage) res.write(chunk([], { usage: usageOf(body, reply) }));
    res.end('data: [DONE]\n\n');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    received,
    enqueue: (...replies) => void script.push(...replies),
    setDefault: (reply) => void (fallback = reply),
    reset() {
      script = [];
      received.length = 0;
      fallback = initialDefault;
    },
    receivedText: () =>
      received
        .flatMap((r) =>
          ((r.body?.messages as { content?: unknown }[] | undefined) ?? []).map((m) => m.content),
        )
        .filter((c): c is string => typeof c === 'string')
        .join('\n'),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
}

/** Splits content into a few pieces, the way a model streams tokens. */
function splitContent(content: string): string[] {
  const codePoints = Array.from(content);
  if (codePoints.length === 0) return [];
  const size = Math.max(1, Math.ceil(codePoints.length / 4));
  const pieces: string[] = [];
  for (let i = 0; i < codePoints.length; i += size) pieces.push(codePoints.slice(i, i + size).join(''));
  return pieces;
}
