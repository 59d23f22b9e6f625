import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from '@offload/local-infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `npm start` as a user runs it: the launcher in its own process group (as in a terminal), a data
 * directory of the test's own, the gateway on a free port, a NATS namespace of the test's own (which
 * also proves that variables given to npm start reach every service). Postgres and NATS are whatever the
 * launcher finds: the local servers here, embedded ones under the data directory on a bare machine.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVICES = ['identity', 'usage', 'tasks', 'ai', 'billing', 'voice'];
const PREFIX = `l${randomBytes(4).toString('hex')}`;

interface Launch {
  process: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Every pid the launcher printed (services, gateway, and embedded servers it started). */
  pids(): number[];
}

const launches: Launch[] = [];
let leftoverPid: number | undefined;
let dataDir: string;
let gatewayPort: number;

function launch(): Launch {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GATEWAY_PORT: String(gatewayPort),
    OFFLOAD_DATA_DIR: dataDir,
    NATS_SUBJECT_PREFIX: PREFIX,
    LOG_LEVEL: 'warn',
  };
  // Exactly what `npm start` runs (npm itself is left out: it dies by the signal and cannot exit 0).
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const handle: Launch = {
    process: child,
    output: () => text,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match) done(() => resolve(match));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${text.slice(-4000)}`))),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        void exited.then(() =>
          setTimeout(() => done(() => reject(new Error(`launcher exited early:\n${text.slice(-4000)}`))), 50),
        );
        listeners.add(check);
        check();
      });
    },
    exited,
    pids: () => [...text.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1])),
  };
  launches.push(handle);
  return handle;
}

/** Gone, or a zombie nobody waits for any more: either way nothing runs. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function json(url: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  gatewayPort = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), 'offload-start-'));
  // An embedded Postgres runs as the `postgres` user when we are root: it must reach its directory.
  chmodSync(dataDir, 0o755);
});

afterAll(async () => {
  for (const started of launches) {
    if (started.process.exitCode === null && started.process.signalCode === null) {
      try {
        process.kill(-started.process.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const pid of started.pids()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (leftoverPid && isRunning(leftoverPid)) process.kill(leftoverPid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  // The streams of this test's namespace (on a shared NATS they would otherwise stay; an embedded one
  // went away with the data directory).
  const natsUrl =
    process.env.NATS_URL ??
    (launches[0]?.output().includes('NATS: using the server already running') ? 'nats://127.0.0.1:4222' : '');
  if (natsUrl) {
    const nc = await connect({ servers: natsUrl.split(',') }).catch(() => undefined);
    if (nc) {
      const jsm = await jetstreamManager(nc);
      for await (const name of jsm.streams.names()) {
        if (name.startsWith(`${PREFIX.toUpperCase()}_`)) await jsm.streams.delete(name).catch(() => false);
      }
      await nc.close();
    }
  }
});

describe('npm start', () => {
  let gatewayUrl: string;
  let token: string;
  let taskId: string;
  let firstLauncherPid: number;

  it('starts every service and the gateway, serves a real journey, and stops cleanly on Ctrl-C', async () => {
    const first = launch();
    gatewayUrl = (await first.waitFor(/Gateway\s+(http:\/\/\S+)/, 50_000))[1]!;
    expect(gatewayUrl).toBe(`http://127.0.0.1:${gatewayPort}`);
    expect(first.output()).toContain(`Docs     ${gatewayUrl}/docs`);
    // One Postgres role per service (DESIGN 2).
    expect(first.output()).toContain('each service connects as its own role');

    const health = await json(`${gatewayUrl}/v1/health`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(Object.keys(health.body.checks).sort()).toEqual([...SERVICES].sort());
    for (const service of SERVICES) expect(health.body.checks[service]).toBe('ok');

    expect((await fetch(`${gatewayUrl}/docs`)).status).toBe(200);
    const openapi = await json(`${gatewayUrl}/openapi.json`);
    expect(openapi.status).toBe(200);
    expect(Object.keys(openapi.body.paths)).toContain('/v1/tasks');

    const session = await json(`${gatewayUrl}/v1/sessions/anonymous`, {
      method: 'POST',
      body: { install_id: `install-${randomUUID()}`, app_version: '1.0.0', platform: 'ios' },
    });
    expect([200, 201]).toContain(session.status);
    token = session.body.session_token;
    const created = await json(`${gatewayUrl}/v1/tasks`, {
      method: 'POST',
      token,
      body: { title: 'Water the plants', priority: 'low' },
    });
    expect(created.status).toBe(201);
    taskId = created.body.id;
    const read = await json(`${gatewayUrl}/v1/tasks/${taskId}`, { token });
    expect(read.status).toBe(200);
    expect(read.body.title).toBe('Water the plants');

    const pids = first.pids();
    firstLauncherPid = Number(/npm start \(pid (\d+)\)/.exec(first.output())![1]);
    expect(pids.length).toBeGreaterThanOrEqual(SERVICES.length + 1);
    for (const pid of pids) expect(isRunning(pid)).toBe(true);

    // Ctrl-C in a terminal: SIGINT to the foreground process group.
    const sentAt = Date.now();
    process.kill(-first.process.pid!, 'SIGINT');
    const exit = await first.exited;
    expect(exit.code, first.output().slice(-3000)).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(15_000);
    expect(first.output()).toMatch(/launcher \| stopped\n/);
    // Every service closed gracefully: nothing needed a SIGKILL.
    expect(first.output()).not.toMatch(/was killed|killing every child/);
    const survivors = pids.filter(isRunning);
    expect(survivors).toEqual([]);
  }, 75_000);

  it('finds its data again, stops what a killed launcher left behind, and stops everything when a child dies', async () => {
    expect(taskId).toBeDefined();
    // What a launcher killed with SIGKILL leaves: its state file and a service still running.
    const leftover = spawn(
      process.execPath,
      ['-e', 'setInterval(() => {}, 1000)', 'services/tasks/src/server.ts'],
      { cwd: ROOT, detached: true, stdio: 'ignore' },
    );
    leftoverPid = leftover.pid!;
    expect(existsSync(join(dataDir, 'launcher.json'))).toBe(false); // the clean stop removed it
    writeFileSync(
      join(dataDir, 'launcher.json'),
      JSON.stringify({
        pid: firstLauncherPid,
        processes: [
          {
            name: 'tasks',
            pid: leftoverPid,
            match: 'services/tasks/src/server.ts',
            signal: 'SIGTERM',
            group: true,
          },
        ],
      }),
    );

    const second = launch();
    await second.waitFor(/Gateway\s+(http:\/\/\S+)/, 50_000);
    expect(second.output()).toContain(
      `stopped what a previous npm start left running when it was killed: tasks (pid ${leftoverPid})`,
    );
    expect(isRunning(leftoverPid)).toBe(false);

    // Same data directory and database: the task and identity's signing key survived the restart.
    const read = await json(`${gatewayUrl}/v1/tasks/${taskId}`, { token });
    expect(read.status).toBe(200);
    expect(read.body.id).toBe(taskId);

    const pids = second.pids();
    const tasksPid = Number(/started tasks \(pid (\d+)\)/.exec(second.output())![1]);
    process.kill(tasksPid, 'SIGKILL');
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    expect(second.output()).toMatch(/tasks exited unexpectedly \(killed by SIGKILL\); stopping everything/);
    expect(pids.filter(isRunning)).toEqual([]);
  }, 75_000);
});
