import { createServer, type Server } from 'node:http';
import { listen, percentile } from './proc.js';

/**
 * A local OTLP/HTTP (JSON) receiver for exploring where a benchmark's time goes: services started with
 * `OTEL_EXPORTER_OTLP_ENDPOINT` = its URL send their spans here, and `summary()` gives each span name's
 * duration percentiles per service. Metrics and logs are accepted and dropped. Recording every span
 * costs CPU, so figures taken with it on are for finding the slow step, not for the report.
 */
export interface TraceSink {
  url: string;
  /** Forgets what was received so far (e.g. the warm-up's spans). */
  reset(): void;
  summary(): string;
  close(): Promise<void>;
}

interface OtlpSpan {
  name: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
}
interface OtlpTraces {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

const nanos = (v: string | number) => (typeof v === 'number' ? v : Number(BigInt(v)));

export async function startTraceSink(): Promise<TraceSink> {
  let durations = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as OtlpTraces;
          for (const rs of body.resourceSpans ?? []) {
            const service =
              rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
            for (const ss of rs.scopeSpans ?? [])
              for (const span of ss.spans ?? []) {
                const key = `${service}: ${span.name}`;
                const ms = (nanos(span.endTimeUnixNano) - nanos(span.startTimeUnixNano)) / 1e6;
                let list = durations.get(key);
                if (!list) durations.set(key, (list = []));
                list.push(ms);
              }
          }
        } catch {
          // not JSON (a protobuf exporter): ignored
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    reset: () => void (durations = new Map()),
    summary() {
      const rows = [...durations.entries()]
        .map(([key, list]) => [key, list.sort((a, b) => a - b)] as const)
        .sort((a, b) => percentile(b[1], 50) - percentile(a[1], 50));
      return rows
        .map(
          ([key, s]) =>
            `${key.padEnd(56)} n=${String(s.length).padEnd(6)} p50 ${percentile(s, 50).toFixed(2).padStart(8)}` +
            ` p90 ${percentile(s, 90).toFixed(2).padStart(8)} p99 ${percentile(s, 99).toFixed(2).padStart(8)} ms`,
        )
        .join('\n');
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
