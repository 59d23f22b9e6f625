import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino censors. Request and response bodies never reach logs at all (the HTTP layer logs only
 * method, route, status and latency); this list is the second line of defence for anything that
 * slips into a log object by name.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-install-id"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'token',
  'access_token',
  'refresh_token',
  'session_token',
  'id_token',
  'password',
  'secret',
  'email',
  'body',
  'req.body',
  'res.body',
  'input_text',
  'prompt',
  'title',
  'description',
  'content',
  'transcript',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.session_token',
  '*.id_token',
  '*.email',
  '*.body',
  '*.title',
  '*.description',
  '*.content',
  '*.input_text',
  '*.prompt',
  '*.transcript',
];

export interface LoggerConfig {
  service: string;
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a capture stream. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

/** pino JSON logs with service name, trace and span ids of the active span, and redaction. */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: config.service, ...config.base },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const ctx = span.spanContext();
      // No ids from a no-op tracer (all zeros): they would correlate every line with every other.
      if (!isSpanContextValid(ctx)) return {};
      return { trace_id: ctx.traceId, span_id: ctx.spanId };
    },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}
