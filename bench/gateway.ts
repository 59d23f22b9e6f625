/**
 * Gateway benchmark (issue 2): an authenticated `GET /v1/tasks/{id}` sent
 *   - straight to the tasks service,
 *   - through the gateway (token verified, proxied with @fastify/http-proxy),
 *   - through the gateway with telemetry on (100% sampling, OTLP export to a local sink),
 *   - through nginx proxying to the tasks service with upstream keepalive (when nginx is installed),
 * at 100 and 1000 connections, 10 s each after a 3 s warm-up, with autocannon. Writes req/s, p50, p99
 * and the peak RSS of every process into bench/README.md.
 *
 * Run: `npx tsx bench/gateway.ts` (about two minutes). Everything listens on 127.0.0.1 only; Postgres and
 * NATS are found or started as `npm start` does; the bench's own database, NATS streams and processes
 * are removed when it ends. Tasks verifies tokens over NATS (identity's JWKS RPC), so the bench answers
 * that RPC with a test signing key; the gateway reads the same key over HTTP.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { identityJwksRpc } from '@offload/contracts';
import {
  dropDatabase,
  ensureDatabase,
  findOrStartNats,
  findOrStartPostgres,
  freePort,
} from '@offload/local-infra';
import { createLogger } from '@offload/platform/logger';
import { connectBus, serveRpc } from '@offload/platform/nats';
import { migrate as migrateTasks } from '@offload/tasks/migrate';
import { createTestSigner } from '@offload/testing';
import { cpuSeconds, listen, rssMb, sleep } from './lib/proc.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = join(ROOT, 'bench', 'README.md');
const NGINX = '/usr/sbin/nginx';
const WARMUP_S = 3;
// Overrides for exploring (BENCH_DURATION=5 BENCH_CONNECTIONS=1000 BENCH_TARGETS=gateway,nginx); a run
// with any of them set prints its figures but leaves bench/README.md alone.
const EXPLORING = [
  'BENCH_DURATION',
  'BENCH_CONNECTIONS',
  'BENCH_TARGETS',
  'BENCH_GATEWAY_ENV',
  'BENCH_NODE_ARGS',
].some((k) => process.env[k]);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '100,1000').split(',').map(Number);
const ONLY = process.env.BENCH_TARGETS?.split(',');
const MARK_START = '<!-- gateway-bench:start -->';
const MARK_END = '<!-- gateway-bench:end -->';

type TargetName = 'direct' | 'gateway' | 'gateway-otel' | 'nginx';

interface Target {
  name: TargetName;
  label: string;
  url: string;
  /** Processes whose RSS is reported as the proxy's (none for the direct path). */
  proxyPids: () => number[];
}

interface Measurement {
  target: TargetName;
  label: string;
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  failures: number;
  proxyRssMb: number | undefined;
  proxyCpuPct: number | undefined;
  /** CPU time the proxy spent per request: steadier across runs than req/s on a shared machine. */
  proxyCpuUsPerRequest: number | undefined;
  tasksRssMb: number;
  tasksCpuPct: number;
  loadCpuPct: number;
  /** Connections the kernel dropped before accept (any listener) during the run. */
  listenOverflows: number;
}

/** TCP listen-queue overflows on this machine so far (connections dropped before accept). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const header = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[header]!.split(' ');
  const values = lines[header + 1]!.split(' ');
  return Number(values[names.indexOf('ListenOverflows')] ?? 0);
}

/** A process and its direct children (nginx's master and workers). */
function withChildren(pid: number): number[] {
  const children = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [pid, ...children];
}

interface Child {
  name: string;
  process: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

function startChild(name: string, command: string, args: string[], env: Record<string, string>): Child {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4_000);
  });
  return {
    name,
    process: child,
    stderr: () => tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(name === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function startNodeService(name: string, entry: string, env: Record<string, string>, imports: string[] = []) {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") reaches every Node service, for profiling.
  const extra = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const args = [...extra, '--import', 'tsx', ...imports.flatMap((i) => ['--import', i]), entry];
  return startChild(name, process.execPath, args, env);
}

async function waitUntilOk(url: string, child: Child, timeoutMs = 30_000): Promise<void> {
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

function nginxConfig(dir: string, port: number, tasksPort: number): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log ${dir}/access.log combined buffer=64k;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream tasks {
    server 127.0.0.1:${tasksPort};
    keepalive 1024;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tasks;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id $request_id;
    }
  }
}
`;
}

async function measure(
  target: Target,
  connections: number,
  headers: Record<string, string>,
  tasksPid: number,
): Promise<Measurement> {
  await autocannon({ url: target.url, connections, duration: WARMUP_S, headers });
  let proxyPeak = 0;
  let tasksPeak = 0;
  const sum = (pids: number[], of: (pid: number) => number) =>
    pids.reduce((total, pid) => total + of(pid), 0);
  const sample = () => {
    proxyPeak = Math.max(proxyPeak, sum(target.proxyPids(), rssMb));
    tasksPeak = Math.max(tasksPeak, rssMb(tasksPid));
  };
  const sampler = setInterval(sample, 500);
  const before = {
    proxy: sum(target.proxyPids(), cpuSeconds),
    tasks: cpuSeconds(tasksPid),
    load: cpuSeconds(process.pid),
    overflows: listenOverflows(),
  };
  const result = await autocannon({ url: target.url, connections, duration: DURATION_S, headers });
  clearInterval(sampler);
  sample();
  const proxyCpu = sum(target.proxyPids(), cpuSeconds) - before.proxy;
  const hasProxy = target.proxyPids().length > 0;
  const m: Measurement = {
    target: target.name,
    label: target.label,
    connections,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    // autocannon counts a timeout as an error too.
    failures: result.errors + result.non2xx,
    proxyRssMb: hasProxy ? proxyPeak : undefined,
    proxyCpuPct: hasProxy ? (proxyCpu / DURATION_S) * 100 : undefined,
    proxyCpuUsPerRequest: hasProxy ? (proxyCpu * 1e6) / Math.max(1, result.requests.total) : undefined,
    tasksRssMb: tasksPeak,
    tasksCpuPct: ((cpuSeconds(tasksPid) - before.tasks) / DURATION_S) * 100,
    loadCpuPct: ((cpuSeconds(process.pid) - before.load) / DURATION_S) * 100,
    listenOverflows: listenOverflows() - before.overflows,
  };
  const pct = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(0)}%`);
  console.log(
    `${m.label.padEnd(32)} c=${String(connections).padEnd(5)} ${Math.round(m.rps)} req/s p50 ${m.p50} ms` +
      ` p99 ${m.p99} ms | errors ${result.errors} timeouts ${result.timeouts} non-2xx ${result.non2xx}` +
      ` | cpu proxy ${pct(m.proxyCpuPct)} tasks ${pct(m.tasksCpuPct)} load generator ${pct(m.loadCpuPct)}` +
      ` | listen overflows ${m.listenOverflows}`,
  );
  return m;
}

function report(results: Measurement[], info: Record<string, string>): string {
  const fixed = (v: number | undefined, digits = 0) => (v === undefined ? '-' : v.toFixed(digits));
  const pct = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(0)}%`);
  const rows = results.map((m) =>
    [
      m.label,
      m.connections,
      Math.round(m.rps).toLocaleString('en-US'),
      m.p50,
      m.p99,
      m.failures,
      pct(m.proxyCpuPct),
      fixed(m.proxyCpuUsPerRequest),
      fixed(m.proxyRssMb),
      pct(m.tasksCpuPct),
      fixed(m.tasksRssMb),
      pct(m.loadCpuPct),
      m.listenOverflows,
    ].join(' | '),
  );
  const find = (target: TargetName, c: number) =>
    results.find((m) => m.target === target && m.connections === c);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
  const ratioRows = CONNECTIONS.map((c) => {
    const gw = find('gateway', c)?.rps;
    return `| ${c} | ${ratio(gw, find('direct', c)?.rps)} | ${ratio(gw, find('nginx', c)?.rps)} | ${ratio(find('gateway-otel', c)?.rps, gw)} |`;
  });
  const verdict = CONNECTIONS.map((c) => {
    const gw = find('gateway', c)?.rps;
    const ng = find('nginx', c)?.rps;
    if (gw === undefined || ng === undefined) return `${c} connections: nginx not measured`;
    return `${c} connections ${gw / ng >= 0.6 ? 'met' : 'missed'} (${ratio(gw, ng)})`;
  }).join(', ');
  return [
    MARK_START,
    // Generated tables stay as written; `prettier --check .` would otherwise flag every new run.
    '<!-- prettier-ignore-start -->',
    '## Gateway: authenticated `GET /v1/tasks/{id}`',
    '',
    'Generated by `npx tsx bench/gateway.ts` (one run; rerunning replaces this section). Compare ratios',
    'within a run, not absolute figures across runs or machines.',
    '',
    '| | |',
    '|---|---|',
    ...Object.entries(info).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    `Each row: ${WARMUP_S} s warm-up, then ${DURATION_S} s measured by autocannon (one request in flight per`,
    'connection). CPU is the share of one core used during the measured run; "µs/req" is the proxy\'s CPU',
    'time per request, the steadiest figure on a shared machine. RSS is the peak during the run (nginx:',
    'master + worker). Listen overflows are connections the kernel dropped before accept (any listener).',
    '',
    '| path | conn. | req/s | p50 ms | p99 ms | errors (incl. timeouts) + non-2xx | proxy CPU | proxy µs/req | proxy RSS MB | tasks CPU | tasks RSS MB | load gen. CPU | listen overflows |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r} |`),
    '',
    '| connections | gateway / direct | gateway / nginx | gateway with telemetry / gateway |',
    '|---:|---:|---:|---:|',
    ...ratioRows,
    '',
    `Target gateway >= 0.6x nginx: ${verdict}.`,
    '',
    'Setup: one tasks service process (Postgres and NATS found or started by `@offload/local-infra`); the',
    'gateway as `node --import tsx services/gateway/src/server.ts` with its defaults (1024 upstream',
    'connections per prefix, info request logs to /dev/null); nginx with one worker, upstream keepalive',
    '1024 and a buffered access log; every listener with its default backlog (511). The load generator,',
    'Postgres, the proxy and the service share the same cores. Every request carries the same valid access',
    'token: the gateway and tasks verify it once and then hit their verified-token caches; nginx checks',
    'nothing. "gateway with telemetry" adds `--import @offload/platform/telemetry/register` (100%',
    'sampling, OTLP/HTTP export of spans and metrics to a local sink that discards them).',
    '<!-- prettier-ignore-end -->',
    MARK_END,
  ].join('\n');
}

function writeReport(section: string) {
  const intro = [
    '# Benchmarks',
    '',
    'Load and throughput benchmarks with their latest reports. They are never part of `npm test`, and',
    'tests never assert timings (DESIGN 14). Run one with `npx tsx bench/<name>.ts`, or all with',
    '`npm run bench`.',
    '',
  ].join('\n');
  const current = existsSync(README)
    ? readFileSync(README, 'utf8')
    : `${intro}\n${MARK_START}\n${MARK_END}\n`;
  const start = current.indexOf(MARK_START);
  const end = current.indexOf(MARK_END);
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${section}${current.slice(end + MARK_END.length)}`
      : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(README, next);
}

export async function runGatewayBench(): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const children: Child[] = [];
  const cleanup = async () => {
    for (const child of children.reverse()) await child.stop().catch(() => undefined);
    for (const fn of cleanups.reverse()) await fn().catch((e) => console.error('cleanup failed:', e));
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const dataDir = join(ROOT, '.data', 'bench');
    const pg = await findOrStartPostgres({ dataDir, persistent: false });
    cleanups.push(() => pg.stop());
    const nats = await findOrStartNats({ storeDir: join(dataDir, 'nats') });
    cleanups.push(() => nats.stop());
    const suffix = randomBytes(4).toString('hex');
    const dbName = `bench_${suffix}`;
    const databaseUrl = await ensureDatabase(pg.adminUrl, dbName);
    cleanups.push(() => dropDatabase(pg.adminUrl, dbName));
    await migrateTasks(databaseUrl);
    const prefix = `bench${suffix}`;
    console.log(`postgres: ${pg.origin}, nats: ${nats.origin}, database ${dbName}, nats prefix ${prefix}`);

    // The signing key identity would own: served over NATS (for tasks) and HTTP (for the gateway).
    const signer = await createTestSigner();
    const logger = createLogger({ service: 'bench', level: 'warn' });
    const bus = await connectBus({ url: nats.url, name: 'bench-identity', prefix, logger });
    cleanups.push(async () => {
      for await (const stream of bus.jsm.streams.list()) {
        if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`))
          await bus.jsm.streams.delete(stream.config.name);
      }
      await bus.close();
    });
    const rpc = serveRpc(bus, identityJwksRpc, () => signer.jwks(), { queue: 'identity', logger });
    cleanups.push(async () => rpc.stop());
    const jwksServer = createServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(await signer.jwks()));
    });
    const jwksPort = await listen(jwksServer);
    cleanups.push(() => new Promise((r) => jwksServer.close(r)));
    const otlpSink = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    const otlpPort = await listen(otlpSink);
    cleanups.push(() => new Promise((r) => otlpSink.close(r)));

    const tasksPort = await freePort();
    const tasks = startNodeService('tasks', 'services/tasks/src/server.ts', {
      DATABASE_URL: databaseUrl,
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: prefix,
      PORT: String(tasksPort),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      APP_ENV: 'bench',
    });
    children.push(tasks);
    const tasksUrl = `http://127.0.0.1:${tasksPort}`;
    await waitUntilOk(`${tasksUrl}/health/ready`, tasks);

    const gatewayEnv = (port: number) => ({
      GATEWAY_PORT: String(port),
      HOST: '127.0.0.1',
      TASKS_URL: tasksUrl,
      JWKS_URL: `http://127.0.0.1:${jwksPort}/jwks.json`,
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: prefix,
      // One token drives the whole run: the per-user limit would stop it after 100 requests.
      RATE_LIMIT_PER_USER: '1000000000',
      LOG_LEVEL: 'info',
      APP_ENV: 'bench',
      ...(process.env.BENCH_GATEWAY_ENV
        ? (JSON.parse(process.env.BENCH_GATEWAY_ENV) as Record<string, string>)
        : {}),
    });
    const gatewayPort = await freePort();
    const gateway = startNodeService('gateway', 'services/gateway/src/server.ts', gatewayEnv(gatewayPort));
    children.push(gateway);
    const otelPort = await freePort();
    const gatewayOtel = startNodeService(
      'gateway-otel',
      'services/gateway/src/server.ts',
      {
        ...gatewayEnv(otelPort),
        OTEL_SERVICE_NAME: 'gateway',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
      },
      ['@offload/platform/telemetry/register'],
    );
    children.push(gatewayOtel);
    await waitUntilOk(`http://127.0.0.1:${gatewayPort}/health/live`, gateway);
    await waitUntilOk(`http://127.0.0.1:${otelPort}/health/live`, gatewayOtel);

    let nginxPort: number | undefined;
    let nginx: Child | undefined;
    let nginxLog: string | undefined;
    if (existsSync(NGINX)) {
      const dir = join(tmpdir(), `offload-bench-nginx-${suffix}`);
      mkdirSync(dir, { recursive: true });
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      nginxPort = await freePort();
      writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, nginxPort, tasksPort));
      nginxLog = join(dir, 'error.log');
      nginx = startChild('nginx', NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir], {});
      children.push(nginx);
      await waitUntilOk(`http://127.0.0.1:${nginxPort}/health/live`, nginx);
    } else {
      console.log(`${NGINX} not found: the nginx rows are skipped (apt-get install -y nginx adds them)`);
    }

    const token = await signer.token();
    const headers = { authorization: `Bearer ${token}` };
    const created = await fetch(`http://127.0.0.1:${gatewayPort}/v1/tasks`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'benchmark task', priority: 'medium' }),
    });
    if (created.status !== 201)
      throw new Error(`creating the task failed: ${created.status} ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    const path = `/v1/tasks/${id}`;

    const targets: Target[] = [
      { name: 'direct', label: 'direct to tasks', url: `${tasksUrl}${path}`, proxyPids: () => [] },
      {
        name: 'gateway',
        label: 'gateway -> tasks',
        url: `http://127.0.0.1:${gatewayPort}${path}`,
        proxyPids: () => [gateway.process.pid!],
      },
      {
        name: 'gateway-otel',
        label: 'gateway with telemetry -> tasks',
        url: `http://127.0.0.1:${otelPort}${path}`,
        proxyPids: () => [gatewayOtel.process.pid!],
      },
    ];
    if (nginx && nginxPort) {
      const master = nginx.process.pid!;
      targets.push({
        name: 'nginx',
        label: 'nginx -> tasks',
        url: `http://127.0.0.1:${nginxPort}${path}`,
        proxyPids: () => withChildren(master),
      });
    }
    for (const target of targets) {
      const res = await fetch(target.url, { headers });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 200 || body.id !== id) throw new Error(`${target.label} answered ${res.status}`);
    }

    const loadBefore = loadavg()[0]!;
    const results: Measurement[] = [];
    for (const connections of CONNECTIONS)
      for (const target of targets.filter((t) => !ONLY || ONLY.includes(t.name)))
        results.push(await measure(target, connections, headers, tasks.process.pid!));
    if (nginxLog && existsSync(nginxLog)) {
      const lines = readFileSync(nginxLog, 'utf8').trim().split('\n').filter(Boolean);
      if (lines.length)
        console.log(`nginx error log (${lines.length} lines), last:\n${lines.slice(-3).join('\n')}`);
    }
    if (EXPLORING) {
      console.log('exploring run (BENCH_* set): bench/README.md left unchanged');
      return;
    }

    const nginxVersion = existsSync(NGINX)
      ? spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '')
      : 'not installed';
    writeReport(
      report(results, {
        date: new Date().toISOString(),
        cpu: `${cpus()[0]?.model ?? 'unknown'}, nproc ${cpus().length}`,
        memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
        node: process.version,
        nginx: nginxVersion,
        'Postgres / NATS': `${pg.origin} / ${nats.origin}`,
        'load average (1 min) before / after': `${loadBefore.toFixed(2)} / ${loadavg()[0]!.toFixed(2)}`,
      }),
    );
    console.log(`results written to ${README}`);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await runGatewayBench();
}
