import { randomUUID } from 'node:crypto';
import { SpanKind, startTelemetry } from '@offload/platform/telemetry';
import { eventually, startFakeOpenAi, type FakeOpenAi } from '@offload/testing';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

const exporter = new InMemorySpanExporter();
const telemetry = startTelemetry({ serviceName: 'e2e', spanProcessors: [new SimpleSpanProcessor(exporter)] });
let system: RunningSystem;
let fake: FakeOpenAi;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  system = await startSystem({
    env: { OPENAI_API_KEY: 'sk-e2e', OPENAI_BASE_URL: fake.baseUrl, OPENAI_ATTEMPT_TIMEOUT_MS: '2000' },
  });
});

afterAll(async () => {
  await system?.stop();
  await fake?.close();
  await telemetry.shutdown();
});

/** The finished spans of one trace, with a way to walk up from a span to its ancestors. */
function traceOf(traceId: string) {
  const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const parentOf = (s: ReadableSpan) =>
    s.parentSpanContext ? byId.get(s.parentSpanContext.spanId) : undefined;
  const isInside = (s: ReadableSpan, ancestor: ReadableSpan) => {
    for (let p = parentOf(s); p; p = parentOf(p)) if (p === ancestor) return true;
    return false;
  };
  const nearestServer = (s: ReadableSpan): ReadableSpan | undefined => {
    for (let p = parentOf(s); p; p = parentOf(p)) if (p.kind === SpanKind.SERVER) return p;
    return undefined;
  };
  return { spans, parentOf, isInside, nearestServer };
}

describe('one trace across the architecture', () => {
  it('spans gateway -> tasks -> Postgres -> outbox relay -> NATS consume under one trace id', async () => {
    const session = await anonymousSession(system.gatewayUrl, `install-${randomUUID()}`);
    exporter.reset();
    const res = await call(system.gatewayUrl, 'POST', '/v1/tasks', {
      token: session.session_token,
      body: { title: 'traced task' },
    });
    expect(res.status).toBe(201);

    // The consumer's span is the end of the chain; everything before it must share its trace id.
    const consume = await eventually(
      async () => exporter.getFinishedSpans().find((s) => s.name === 'consume tasks.task.created'),
      15_000,
    );
    const { spans, parentOf, nearestServer } = traceOf(consume.spanContext().traceId);
    const names = spans.map((s) => s.name);
    const find = (predicate: (s: ReadableSpan) => boolean, what: string) => {
      const found = spans.find(predicate);
      expect(found, `${what} in ${JSON.stringify(names)}`).toBeDefined();
      return found!;
    };

    // gateway: the outermost server span (its parent is the test's own instrumented fetch), and its
    // proxied request to tasks (an undici client span inside it).
    const gatewayServer = find(
      (s) => s.kind === SpanKind.SERVER && !nearestServer(s),
      'the gateway server span',
    );
    const proxied = find(
      (s) => s.kind === SpanKind.CLIENT && s.name === 'POST' && nearestServer(s) === gatewayServer,
      'the proxied call',
    );
    // tasks: its server span continues the proxied call's context.
    const tasksServer = find(
      (s) => s.kind === SpanKind.SERVER && parentOf(s) === proxied,
      'the tasks server span',
    );
    // Postgres: the insert of the task, inside the tasks request.
    const insert = find(
      (s) => s.name === 'db insert' && String(s.attributes['db.query.text']).includes('"tasks"."tasks"'),
      'the task insert span',
    );
    let ancestor: ReadableSpan | undefined = insert;
    while (ancestor && ancestor !== tasksServer) ancestor = parentOf(ancestor);
    expect(ancestor, 'the insert runs inside the tasks request').toBe(tasksServer);
    // outbox relay -> NATS publish -> consume, continuing the same trace.
    const relay = find((s) => s.name === 'outbox relay', 'the relay span');
    const publish = find(
      (s) => s.name === 'publish tasks.task.created' && parentOf(s) === relay,
      'the publish span',
    );
    expect(consume.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(consume)).toBe(publish);
    // No span carries the task title.
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain('traced task');
  });

  it('follows a breakdown from ai over the reservation RPCs into usage and its Postgres calls', async () => {
    const session = await anonymousSession(system.gatewayUrl, `install-${randomUUID()}`);
    exporter.reset();
    const res = await call(system.gatewayUrl, 'POST', '/v1/ai/breakdown/generate', {
      token: session.session_token,
      headers: { 'x-offload-cloud-opt-in': 'true' },
      body: { input_text: 'plan the move', granularity: 2 },
    });
    expect(res.status).toBe(200);

    const commitServe = await eventually(
      async () => exporter.getFinishedSpans().find((s) => s.name === 'rpc usage.commit serve'),
      10_000,
    );
    const { spans, parentOf, isInside, nearestServer } = traceOf(commitServe.spanContext().traceId);
    const named = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      expect(found, `${name} in ${JSON.stringify(spans.map((s) => s.name))}`).toHaveLength(1);
      return found[0]!;
    };
    const generate = named('ai.breakdown.generate');
    const aiServer = nearestServer(generate)!;
    expect(aiServer).toBeDefined();
    const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
    for (const rpc of ['usage.reserve', 'usage.commit']) {
      const client = named(`rpc ${rpc}`);
      const server = named(`rpc ${rpc} serve`);
      expect(client.kind).toBe(SpanKind.CLIENT);
      expect(server.kind).toBe(SpanKind.SERVER);
      // usage's handling continues ai's call, and its Postgres function runs inside it.
      expect(parentOf(server)).toBe(client);
      expect(spans.some((s) => s.name.startsWith('db ') && isInside(s, server))).toBe(true);
      // ai reserves and commits within the request it serves.
      expect(isInside(client, aiServer)).toBe(true);
    }
    // Spans name things and never carry code: every route plugin is named (an anonymous Fastify plugin
    // is named after its source text, which @fastify/otel copied into each handler span).
    expect(spans.some((s) => s.attributes['hook.name'] === 'ai breakdown routes - route-handler')).toBe(true);
    for (const span of spans) {
      expect(span.name.length, span.name.slice(0, 80)).toBeLessThanOrEqual(80);
      for (const value of Object.values(span.attributes)) expect(String(value)).not.toContain('=>');
    }
    // The reserve is answered before the provider is called, the commit only after it answered (span
    // clocks are read to about a millisecond, hence the tolerance).
    expect(ms(named('rpc usage.reserve').endTime)).toBeLessThanOrEqual(ms(generate.startTime) + 1);
    expect(ms(named('rpc usage.commit').startTime)).toBeGreaterThanOrEqual(ms(generate.endTime) - 1);
  });

  it('keeps user input out of span status messages and events, even in validation errors', async () => {
    const session = await anonymousSession(system.gatewayUrl, `install-${randomUUID()}`);
    const canary = `CANARY${randomUUID().replace(/-/g, '')}`;
    exporter.reset();
    const res = await call(system.gatewayUrl, 'POST', '/v1/tasks', {
      token: session.session_token,
      body: { title: canary, [canary]: canary },
    });
    expect(res.status).toBe(422);
    await new Promise((r) => setTimeout(r, 200));
    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBeGreaterThan(0);
    const dump = JSON.stringify(
      spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
    );
    expect(dump).not.toContain(canary);
  });
});
