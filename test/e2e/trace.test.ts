import { randomUUID } from 'node:crypto';
import { SpanKind, startTelemetry } from '@offload/platform/telemetry';
import { eventually } from '@offload/testing';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

const exporter = new InMemorySpanExporter();
const telemetry = startTelemetry({ serviceName: 'e2e', spanProcessors: [new SimpleSpanProcessor(exporter)] });
let system: RunningSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
  await telemetry.shutdown();
});

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
    const traceId = consume.spanContext().traceId;
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) =>
      s.parentSpanContext ? byId.get(s.parentSpanContext.spanId) : undefined;
    const names = spans.map((s) => s.name);
    const nearestServer = (s: ReadableSpan): ReadableSpan | undefined => {
      for (let p = parentOf(s); p; p = parentOf(p)) if (p.kind === SpanKind.SERVER) return p;
      return undefined;
    };
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
