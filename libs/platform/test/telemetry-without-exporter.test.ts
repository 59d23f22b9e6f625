import { createLogger } from '@offload/platform/logger';
import { propagation, context, startTelemetry, tracer, type Telemetry } from '@offload/platform/telemetry';
import { LogCapture } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// With no OTLP endpoint and no span processor, spans are not recorded, but trace context still flows:
// log lines carry a trace id and `traceparent` is written for the next service (ADR 0007, amendments).

let telemetry: Telemetry;

beforeAll(() => {
  telemetry = startTelemetry({ serviceName: 'no-exporter-test' });
});

afterAll(async () => {
  await telemetry?.shutdown();
});

describe('telemetry with nowhere to export', () => {
  it('records no span, yet logs carry the trace id and traceparent propagates', () => {
    const logs = new LogCapture();
    const logger = createLogger({ service: 'test', destination: logs });
    const carrier: Record<string, string> = {};
    tracer().startActiveSpan('work', (span) => {
      expect(span.isRecording()).toBe(false);
      const { traceId } = span.spanContext();
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(traceId).not.toBe('0'.repeat(32));
      logger.info('inside');
      propagation.inject(context.active(), carrier);
      span.end();
      expect(logs.parsed()[0]).toMatchObject({ msg: 'inside', trace_id: traceId });
      expect(carrier.traceparent).toBe(`00-${traceId}-${span.spanContext().spanId}-00`);
    });
  });

  it('follows a caller that sampled the trace', () => {
    const parent = propagation.extract(context.active(), {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    tracer().startActiveSpan('child', {}, parent, (span) => {
      expect(span.isRecording()).toBe(true);
      expect(span.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
      span.end();
    });
  });
});
