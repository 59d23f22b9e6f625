import {
  context,
  metrics,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Meter,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  NoopSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export { SpanKind, SpanStatusCode, context, propagation, trace, type Span, type Context };

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  /** OTLP/HTTP endpoint; nothing is exported when it is absent. */
  otlpEndpoint?: string | undefined;
  /** Extra processors, e.g. an in-memory exporter in tests. */
  spanProcessors?: SpanProcessor[];
  /** Parent-based ratio sampling of new traces, 0..1. */
  sampleRatio?: number;
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

let started: Telemetry | undefined;

/** Whether this process runs the OpenTelemetry SDK (started by `register` or a test). */
export function telemetryStarted(): boolean {
  return started !== undefined;
}

/**
 * Starts the OpenTelemetry SDK once per process. Only the instrumentations we use are loaded (undici for
 * outgoing HTTP, including the gateway's proxy; Fastify through the plugin the HTTP factory registers;
 * our own spans around Postgres and NATS), because the whole auto-instrumentation bundle costs most of
 * a service's throughput (docs/adr/0007-telemetry.md).
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (started) return started;
  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (options.otlpEndpoint) {
    processors.push(
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
      ),
    );
  }
  const exporting = processors.length > 0;
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      [ATTR_SERVICE_VERSION]: options.serviceVersion ?? '0.0.0',
    }),
    // With nowhere to send spans (no OTLP endpoint, no processor), new traces are not recorded, but a
    // tracer provider still runs: trace context flows (ids in log lines, `traceparent` to the next
    // service) without building spans only to drop them. A caller's sampled `traceparent` is followed.
    sampler: new ParentBasedSampler({
      root: exporting ? new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) : new AlwaysOffSampler(),
    }),
    spanProcessors: exporting ? processors : [new NoopSpanProcessor()],
    // Logs go to stdout through pino, never through the SDK (no default OTLP log exporter either).
    logRecordProcessors: [],
    ...(options.otlpEndpoint
      ? {
          metricReaders: [
            new PeriodicExportingMetricReader({
              exporter: new OTLPMetricExporter({
                url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/metrics`,
              }),
            }),
          ],
        }
      : // Explicitly none: otherwise the SDK falls back to an OTLP exporter aimed at localhost:4318.
        { metricReaders: [] }),
    instrumentations: [new UndiciInstrumentation()],
  });
  sdk.start();
  started = {
    async shutdown() {
      started = undefined;
      await sdk.shutdown();
    },
  };
  return started;
}

export function tracer(): Tracer {
  return trace.getTracer('@offload/platform');
}

export function meter(): Meter {
  return metrics.getMeter('@offload/platform');
}

/** The Fastify plugin that opens a server span per request (continuing an incoming `traceparent`). */
export function fastifyTelemetryPlugin() {
  const instrumentation = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    // Exception events carry messages and stacks, which may quote user input (zero retention).
    recordExceptions: false,
    ignorePaths: (opts: { url: string }) => opts.url.startsWith('/health/'),
  });
  return instrumentation.plugin();
}

/** Runs `fn` inside a new active span; records the error class (never the message) on failure. */
export async function withSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes ?? {} },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        markSpanError(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Error class and code only: messages may quote user input. */
export function markSpanError(span: Span, error: unknown): void {
  const err = error as { name?: string; code?: unknown };
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.setAttribute('error.type', typeof err?.code === 'string' ? err.code : (err?.name ?? 'Error'));
}

/** W3C trace context of the active span as a plain header map. */
export function currentTraceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

export function contextFromHeaders(headers: Record<string, string | undefined>): Context {
  return propagation.extract(context.active(), headers);
}
