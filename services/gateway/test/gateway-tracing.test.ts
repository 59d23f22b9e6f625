import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createLogger } from '@offload/platform/logger';
import type { App } from '@offload/platform/http';
import { startTelemetry, type Telemetry } from '@offload/platform/telemetry';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createTestSigner, LogCapture } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildGatewayApp } from '../src/app.js';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayRuntime, type GatewayRuntime } from '../src/deps.js';
import { natsEnv, startUpstreams, upstreamEnv, type Upstream } from './support.js';

// Telemetry runs in this file's process (vitest forks per file), as with `--import .../register` and an
// exporter configured; spans land in memory.
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let upstreams: Record<string, Upstream>;
let runtime: GatewayRuntime;
let app: App;
let gatewayUrl: string;
let signer: Awaited<ReturnType<typeof createTestSigner>>;

beforeAll(async () => {
  // Without an OTLP endpoint the SDK would still fall back to its default metric exporter
  // (localhost:4318), and flushing it at shutdown takes seconds here.
  process.env.OTEL_METRICS_EXPORTER = 'none';
  telemetry = startTelemetry({
    serviceName: 'gateway-test',
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  signer = await createTestSigner();
  upstreams = await startUpstreams();
  runtime = await createGatewayRuntime(loadGatewayConfig({ ...natsEnv(), ...upstreamEnv(upstreams) }), {
    logger: createLogger({ service: 'gateway', destination: new LogCapture() }),
    jwks: signer.jwks,
  });
  app = await buildGatewayApp(runtime);
  gatewayUrl = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
  await runtime?.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
  await telemetry?.shutdown();
});

const traceId = '0af7651916cd43dd8448eb211c80319c';
const clientSpan = 'b7ad6b7169203331';
const traceparent = `00-${traceId}-${clientSpan}-01`;

/**
 * A client request through node:http: fetch would go through undici, whose instrumentation runs in this
 * process and would add a traceparent of its own.
 */
async function send(method: string, path: string, headers: Record<string, string>): Promise<number> {
  const req = httpRequest(`${gatewayUrl}${path}`, { method, headers });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  res.resume();
  await once(res, 'end');
  return res.statusCode ?? 0;
}

/** Every value of a header as sent on the wire (duplicates would show up twice here). */
const rawValues = (rawHeaders: string[], name: string) =>
  rawHeaders.filter((_, i) => i % 2 === 0 && rawHeaders[i]!.toLowerCase() === name).map((_, i) => i);

describe('trace context through the gateway', () => {
  it('continues the client’s trace to the service with exactly one traceparent', async () => {
    const status = await send('GET', '/v1/tasks/1', {
      authorization: `Bearer ${await signer.token()}`,
      traceparent,
    });
    expect(status).toBe(200);
    const seen = upstreams.tasks!.seen.at(-1)!;
    expect(rawValues(seen.rawHeaders, 'traceparent')).toHaveLength(1);
    const forwarded = String(seen.headers.traceparent);
    const [, forwardedTrace, parentSpan, flags] = forwarded.split('-');
    expect(forwardedTrace).toBe(traceId);
    // The parent is the gateway's own span now, not the client's.
    expect(parentSpan).toMatch(/^[0-9a-f]{16}$/);
    expect(parentSpan).not.toBe(clientSpan);
    expect(flags).toBe('01');
    // That parent is the gateway's outgoing (undici) span, in the client's trace.
    const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
    expect(spans.map((span) => span.spanContext().spanId)).toContain(parentSpan);
  });

  it('starts a trace when the client sends none', async () => {
    expect(await send('POST', '/v1/sessions/anonymous', {})).toBe(200);
    const seen = upstreams.identity!.seen.at(-1)!;
    expect(rawValues(seen.rawHeaders, 'traceparent')).toHaveLength(1);
    expect(String(seen.headers.traceparent)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });

  it('carries the trace into the voice WebSocket handshake', async () => {
    const ws = new WebSocket(`${gatewayUrl.replace(/^http/, 'ws')}/v1/voice/stream`, {
      headers: { traceparent },
    });
    await once(ws, 'open');
    ws.send('hello');
    await once(ws, 'message');
    ws.close();
    const handshake = upstreams.voice!.upgrades.at(-1)!;
    expect(rawValues(handshake.rawHeaders, 'traceparent')).toHaveLength(1);
    expect(String(handshake.headers.traceparent).split('-')[1]).toBe(traceId);
  });
});
