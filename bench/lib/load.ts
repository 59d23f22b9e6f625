import autocannon from 'autocannon';
import { sleep } from './proc.js';

/**
 * Closed-loop load with autocannon (one request in flight per connection), the connections' first
 * requests spread evenly over `spreadMs`.
 *
 * Why spread: autocannon opens every connection at once, so against a path that answers after a fixed
 * delay all connections send, wait and answer in lockstep, and every request of a round lands in the
 * same millisecond. Independent users do not arrive that way, and the burst alone put +11 ms at p99 on a
 * bare Node server answering after 200 ms at 50 connections on our 2-core machine (+3 ms spread). The
 * connections are split into at most `MAX_GROUPS` autocannon instances, each started `spreadMs / groups`
 * after the one before; their results are added up.
 */
const MAX_GROUPS = 25;

interface CannonClient {
  setHeaders(headers: Record<string, string>): void;
}
interface CannonOptions {
  url: string;
  connections: number;
  duration: number;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  timeout: number;
  setupClient?: (client: CannonClient) => void;
}
interface CannonResult {
  requests: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  '2xx': number;
}
interface CannonTracker extends PromiseLike<CannonResult> {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void,
  ): void;
}
// bench/autocannon.d.ts types only the simple call; this is the part of the API the load uses.
const cannon = autocannon as unknown as (options: CannonOptions) => CannonTracker;

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds each connection keeps sending. */
  duration: number;
  body: string;
  /** Headers of every request; `perConnection` adds each connection's own (index 0, 1, ...). */
  headers: Record<string, string>;
  perConnection?: (index: number) => Record<string, string>;
  /** Over how long the connections' first requests are spread (one answer's expected time). */
  spreadMs: number;
}

export interface LoadResult {
  /** Responses per second over all connections. */
  rps: number;
  /** Every response (any status). */
  requests: number;
  ok: number;
  /** Errors, timeouts and non-2xx answers. */
  failures: number;
  /** "200: 2450, 503: 2" */
  statusCodes: string;
  /** Response times of every 2xx answer in ms, ascending (sub-millisecond, not autocannon's whole-ms histogram). */
  latencies: number[];
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const groups = Math.min(options.connections, MAX_GROUPS);
  let next = 0;
  const latencies: number[] = [];
  const trackers: CannonTracker[] = [];
  for (let g = 0; g < groups; g++) {
    if (g > 0) await sleep(options.spreadMs / groups);
    const connections = Math.floor(options.connections / groups) + (g < options.connections % groups ? 1 : 0);
    const tracker = cannon({
      url: options.url,
      connections,
      duration: options.duration,
      method: 'POST',
      headers: options.headers,
      body: options.body,
      timeout: 30,
      ...(options.perConnection
        ? {
            setupClient: (client: CannonClient) =>
              client.setHeaders({ ...options.headers, ...options.perConnection!(next++) }),
          }
        : {}),
    });
    tracker.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(ms);
    });
    trackers.push(tracker);
  }
  const results = await Promise.all(trackers);
  const statusCodes = new Map<string, number>();
  for (const r of results)
    for (const [code, { count }] of Object.entries(r.statusCodeStats))
      statusCodes.set(code, (statusCodes.get(code) ?? 0) + count);
  const sum = (pick: (r: CannonResult) => number) => results.reduce((t, r) => t + pick(r), 0);
  latencies.sort((a, b) => a - b);
  return {
    rps: sum((r) => r.requests.average),
    requests: sum((r) => r.requests.total),
    ok: sum((r) => r['2xx']),
    failures: sum((r) => r.errors + r.timeouts + r.non2xx),
    statusCodes: [...statusCodes].map(([code, count]) => `${code}: ${count}`).join(', '),
    latencies,
  };
}
