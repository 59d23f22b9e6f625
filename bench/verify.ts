/**
 * Token-verify and rate-limit benchmark (issue 3): an authenticated `GET /v1/tasks/{id}` through the
 * gateway to a minimal upstream (so the gateway's own cost shows), at 100 connections:
 *   - with the same access token on every request (the verified-token cache answers after the first),
 *   - with a fresh token on every request (an EdDSA signature check each time, no cache hits),
 * each with the rate-limit counters in memory and in Redis (one Redis round trip per request), plus
 * the upstream on its own for reference. 3 s warm-up, then 10 s measured per row, with autocannon.
 * Writes req/s, p50, p99 and the gateway's CPU per request into bench/verify.md.
 *
 * Run: `npx tsx bench/verify.ts` (about a minute and a half). Everything listens on 127.0.0.1 only; NATS
 * is found or started as `npm start` does (the gateway subscribes to revocation events there); Redis is
 * taken from RATE_LIMIT_REDIS_URL or 127.0.0.1:6379 (its rows are left out when it does not answer).
 * Every process, Redis key and NATS subscription of the run is gone when it ends, Ctrl-C included.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { KeyObject, randomBytes, randomUUID, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, ACCESS_TOKEN_TYPE } from '@offload/contracts';
import { findOrStartNats, freePort } from '@offload/local-infra';
import { createTestSigner } from '@offload/testing';
import { Redis } from 'ioredis';
import { cpuSeconds, listen, sleep } from './lib/proc.js';

/**
 * autocannon options this bench uses beyond bench/autocannon.d.ts: a request rewritten before each
 * send (a new Authorization header per request).
 */
type AutocannonOptions = Parameters<typeof autocannon>[0] & {
  requests: Array<{
    method: string;
    path: string;
    setupRequest: (request: { headers?: Record<string, string> }) => { headers?: Record<string, string> };
  }>;
};

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPORT = join(ROOT, 'bench', 'verify.md');
const WARMUP_S = 3;
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 100;
/** Fresh tokens minted before the runs: enough for the fastest row seen here, several times over. */
const TOKEN_POOL = Number(process.env.BENCH_TOKENS ?? 150_000);
const REDIS_URL = process.env.RATE_LIMIT_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PATH = `/v1/tasks/${randomUUID()}`;

interface Child {
  name: string;
  process: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

function startNode(name: string, args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr!.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4_000)));
  return {
    name,
    process: child,
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

/** The stand-in service: answers every request with a small JSON body, as fast as Node can. */
const UPSTREAM_SOURCE = `
const { createServer } = require('node:http');
const body = JSON.stringify({ id: 'task', title: 'benchmark task', priority: 'medium', version: 1 });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

async function waitUntilOk(url: string, child: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`${child.name} exited early:\n${child.stderr()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${child.name} did not come up at ${url}:\n${child.stderr()}`);
}

/**
 * Access tokens as identity signs them (EdDSA, same claims), minted with node:crypto directly: about
 * 20 µs each, so a pool of 150k takes a few seconds before the runs and costs nothing during them.
 */
function mintTokens(count: number, key: KeyObject, kid: string): string[] {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = b64({ alg: 'EdDSA', kid, typ: ACCESS_TOKEN_TYPE });
  const now = Math.floor(Date.now() / 1000);
  const sub = randomUUID();
  const sid = randomUUID();
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const payload = b64({
      sid,
      tier: 'free',
      anon: true,
      did: 'install-bench-0001',
      iss: ACCESS_TOKEN_ISSUER,
      aud: ACCESS_TOKEN_AUDIENCE,
      sub,
      iat: now,
      jti: randomUUID(),
      exp: now + 3_600,
    });
    const input = `${header}.${payload}`;
    tokens.push(`${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`);
  }
  return tokens;
}

interface Row {
  label: string;
  tokens: 'reused' | 'fresh' | '-';
  store: 'memory' | 'redis' | '-';
  rps: number;
  p50: number;
  p99: number;
  failures: number;
  gatewayCpuUsPerRequest: number | undefined;
  gatewayCpuPct: number | undefined;
}

async function measure(
  label: string,
  url: string,
  options: { nextToken: () => string; tokens: Row['tokens']; store: Row['store']; pid?: number },
): Promise<Row> {
  const run = (duration: number) =>
    autocannon(<AutocannonOptions>{
      url,
      connections: CONNECTIONS,
      duration,
      requests: [
        {
          method: 'GET',
          path: PATH,
          setupRequest: (request) => ({
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${options.nextToken()}` },
          }),
        },
      ],
    });
  await run(WARMUP_S);
  const before = options.pid ? cpuSeconds(options.pid) : 0;
  const result = await run(DURATION_S);
  const cpu = options.pid ? cpuSeconds(options.pid) - before : undefined;
  const row: Row = {
    label,
    tokens: options.tokens,
    store: options.store,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.errors + result.non2xx,
    gatewayCpuUsPerRequest: cpu === undefined ? undefined : (cpu * 1e6) / Math.max(1, result.requests.total),
    gatewayCpuPct: cpu === undefined ? undefined : (cpu / DURATION_S) * 100,
  };
  console.log(
    `${label.padEnd(44)} ${Math.round(row.rps)} req/s p50 ${row.p50} ms p99 ${row.p99} ms` +
      ` | errors ${result.errors} non-2xx ${result.non2xx}` +
      (cpu === undefined ? '' : ` | gateway ${row.gatewayCpuUsPerRequest!.toFixed(0)} µs CPU/req`),
  );
  return row;
}

function report(rows: Row[], info: Record<string, string>, notes: string[]): string {
  const fixed = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(0));
  const find = (tokens: Row['tokens'], store: Row['store']) =>
    rows.find((r) => r.tokens === tokens && r.store === store);
  const ratio = (a: Row | undefined, b: Row | undefined) =>
    a && b && b.rps > 0 ? `${(a.rps / b.rps).toFixed(2)}x` : 'n/a';
  const cpuDelta = (a: Row | undefined, b: Row | undefined) =>
    a?.gatewayCpuUsPerRequest !== undefined && b?.gatewayCpuUsPerRequest !== undefined
      ? `${(a.gatewayCpuUsPerRequest - b.gatewayCpuUsPerRequest).toFixed(0)} µs`
      : 'n/a';
  return [
    '# Benchmark: token verification and rate limiting at the gateway',
    '',
    '<!-- prettier-ignore-start -->',
    `Generated by \`npx tsx bench/verify.ts\` (one run; rerunning replaces this file). Compare ratios`,
    'within a run, not absolute figures across runs or machines.',
    '',
    '| | |',
    '|---|---|',
    ...Object.entries(info).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    `Each row: ${WARMUP_S} s warm-up, then ${DURATION_S} s measured by autocannon with ${CONNECTIONS}`,
    'connections (one request in flight each), `GET /v1/tasks/{id}` with a bearer token through the',
    'gateway to a minimal upstream that answers a small JSON body. "CPU/req" is the gateway',
    "process's CPU time per request, the steadiest figure on a shared machine.",
    '',
    '| path | token | rate-limit store | req/s | p50 ms | p99 ms | errors + non-2xx | gateway CPU | gateway CPU/req µs |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.tokens} | ${r.store} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.p50} | ${r.p99} | ${r.failures} | ${r.gatewayCpuPct === undefined ? '-' : `${r.gatewayCpuPct.toFixed(0)}%`} | ${fixed(r.gatewayCpuUsPerRequest)} |`,
    ),
    '',
    '| comparison | req/s ratio | extra gateway CPU per request |',
    '|---|---:|---:|',
    `| fresh token / reused token (memory store) | ${ratio(find('fresh', 'memory'), find('reused', 'memory'))} | ${cpuDelta(find('fresh', 'memory'), find('reused', 'memory'))} |`,
    `| fresh token / reused token (Redis store) | ${ratio(find('fresh', 'redis'), find('reused', 'redis'))} | ${cpuDelta(find('fresh', 'redis'), find('reused', 'redis'))} |`,
    `| Redis store / memory store (reused token) | ${ratio(find('reused', 'redis'), find('reused', 'memory'))} | ${cpuDelta(find('reused', 'redis'), find('reused', 'memory'))} |`,
    `| Redis store / memory store (fresh token) | ${ratio(find('fresh', 'redis'), find('fresh', 'memory'))} | ${cpuDelta(find('fresh', 'redis'), find('fresh', 'memory'))} |`,
    '',
    'Setup: the gateway as `node --import tsx services/gateway/src/server.ts` with its defaults except',
    'the per-user limit (raised to 10^9 so every request is counted and none refused), info request logs',
    'to /dev/null, NATS for revocation events. "reused": one token for the whole run, verified once and',
    'then answered by the verified-token cache (keyed by its SHA-256; the revocation check still runs per',
    'request). "fresh": a different token (same user, new `jti`) on every request, minted before the run,',
    'so every request pays the EdDSA signature check and a cache insert. "memory": counters in the',
    'gateway\'s process; "Redis": one atomic Lua script (INCR + PTTL) per request on the Redis above. The',
    'load generator, the gateway, the upstream and Redis share the same cores.',
    ...(notes.length > 0 ? ['', ...notes.map((n) => `- ${n}`)] : []),
    '<!-- prettier-ignore-end -->',
    '',
  ].join('\n');
}

export async function runVerifyBench(): Promise<void> {
  const children: Child[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const child of children.reverse()) await child.stop().catch(() => undefined);
    for (const fn of cleanups.reverse()) await fn().catch((e) => console.error('cleanup failed:', e));
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const nats = await findOrStartNats({ storeDir: join(ROOT, '.data', 'bench', 'nats') });
    cleanups.push(() => nats.stop());
    const suffix = randomBytes(4).toString('hex');
    const prefix = `bench${suffix}`;
    const redisPrefix = `bench:verify:${suffix}:`;

    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    const redisVersion = await redis
      .connect()
      .then(async () => /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown')
      .catch(() => undefined);
    cleanups.push(async () => {
      if (redisVersion) {
        const keys = await redis.keys(`${redisPrefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      redis.disconnect();
    });
    console.log(
      `nats: ${nats.origin}; redis: ${redisVersion ? `${REDIS_URL} (${redisVersion})` : 'not reachable'}`,
    );

    const signer = await createTestSigner();
    const jwksServer = createServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(await signer.jwks()));
    });
    const jwksPort = await listen(jwksServer);
    cleanups.push(() => new Promise((r) => jwksServer.close(r)));

    const upstreamPort = await freePort();
    const upstream = startNode('upstream', ['-e', UPSTREAM_SOURCE], { PORT: String(upstreamPort) });
    children.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    await waitUntilOk(upstreamUrl, upstream);

    const gatewayEnv = (port: number, extra: Record<string, string>) => ({
      GATEWAY_PORT: String(port),
      HOST: '127.0.0.1',
      TASKS_URL: upstreamUrl,
      JWKS_URL: `http://127.0.0.1:${jwksPort}/jwks.json`,
      NATS_URL: nats.url,
      NATS_SUBJECT_PREFIX: prefix,
      RATE_LIMIT_PER_USER: '1000000000',
      LOG_LEVEL: 'info',
      APP_ENV: 'bench',
      ...extra,
    });
    const gateways: Array<{ store: 'memory' | 'redis'; url: string; child: Child }> = [];
    for (const store of ['memory', 'redis'] as const) {
      if (store === 'redis' && !redisVersion) continue;
      const port = await freePort();
      const extra: Record<string, string> =
        store === 'redis' ? { RATE_LIMIT_REDIS_URL: REDIS_URL, RATE_LIMIT_REDIS_PREFIX: redisPrefix } : {};
      const child = startNode(`gateway-${store}`, ['--import', 'tsx', 'services/gateway/src/server.ts'], {
        ...gatewayEnv(port, extra),
      });
      children.push(child);
      const url = `http://127.0.0.1:${port}`;
      await waitUntilOk(`${url}/health/live`, child);
      gateways.push({ store, url, child });
    }

    const key = KeyObject.from(signer.privateKey as unknown as Parameters<typeof KeyObject.from>[0]);
    const reused = mintTokens(1, key, signer.kid)[0]!;
    const started = Date.now();
    const pool = mintTokens(TOKEN_POOL, key, signer.kid);
    console.log(`minted ${pool.length} tokens in ${Date.now() - started} ms`);
    for (const { url } of gateways) {
      const res = await fetch(`${url}${PATH}`, { headers: { authorization: `Bearer ${pool[0]}` } });
      if (res.status !== 200) throw new Error(`the gateway answered ${res.status}: ${await res.text()}`);
    }

    const loadBefore = loadavg()[0]!;
    let next = 1;
    let wrapped = false;
    const fresh = () => {
      if (next >= pool.length) {
        next = 0;
        wrapped = true;
      }
      return pool[next++]!;
    };
    const rows: Row[] = [];
    rows.push(
      await measure('upstream on its own', `${upstreamUrl}`, {
        nextToken: () => reused,
        tokens: '-',
        store: '-',
      }),
    );
    for (const { store, url, child } of gateways) {
      const pid = child.process.pid!;
      rows.push(
        await measure(`gateway, ${store} limits, reused token`, url, {
          nextToken: () => reused,
          tokens: 'reused',
          store,
          pid,
        }),
      );
      rows.push(
        await measure(`gateway, ${store} limits, fresh token`, url, {
          nextToken: fresh,
          tokens: 'fresh',
          store,
          pid,
        }),
      );
    }
    const notes: string[] = [];
    if (wrapped)
      notes.push(
        `The pool of ${pool.length} fresh tokens ran out and was reused from the start: later "fresh" requests could hit the cache.`,
      );
    if (!redisVersion) notes.push(`Redis was not reachable at ${REDIS_URL}: its rows are missing.`);

    writeFileSync(
      REPORT,
      report(
        rows,
        {
          date: new Date().toISOString(),
          cpu: `${cpus()[0]?.model ?? 'unknown'}, nproc ${cpus().length}`,
          memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
          node: process.version,
          redis: redisVersion ? `${redisVersion}, local` : 'not reachable',
          NATS: nats.origin,
          'fresh tokens used': `${wrapped ? pool.length : next - 1} of ${pool.length}`,
          'load average (1 min) before / after': `${loadBefore.toFixed(2)} / ${loadavg()[0]!.toFixed(2)}`,
        },
        notes,
      ),
    );
    console.log(`results written to ${REPORT}`);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await runVerifyBench();
}
