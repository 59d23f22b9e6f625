import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dockerEngineReachable, startNatsContainer } from './docker.js';
import { freePort, isListening, waitFor } from './probe.js';

export interface NatsHandle {
  url: string;
  origin: 'env' | 'local' | 'container' | 'embedded';
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** The nats-server binary: from PATH or the usual places; null when this machine has none. */
export function natsServerBinary(): string | null {
  if (process.env.NATS_SERVER_BIN && existsSync(process.env.NATS_SERVER_BIN))
    return process.env.NATS_SERVER_BIN;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export interface NatsServerProcess extends NatsHandle {
  port: number;
  process: ChildProcess;
  /** Kills the server abruptly (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store directory. */
  restart(): Promise<void>;
}

/**
 * Starts a nats-server with JetStream on a free (or given) port, storing streams in `storeDir`.
 * `detached` puts it in its own process group, so a Ctrl-C in the terminal reaches only the caller, which
 * then stops the server after everything that uses it (npm start's orderly shutdown).
 */
export async function startNatsServer(options: {
  storeDir: string;
  port?: number;
  detached?: boolean;
}): Promise<NatsServerProcess> {
  const bin = natsServerBinary();
  if (!bin) {
    throw new Error(
      'nats-server was not found. Install it (Debian/Ubuntu: `sudo apt-get install nats-server`, macOS: `brew install nats-server`) or set NATS_URL.',
    );
  }
  const port = options.port ?? (await freePort());
  mkdirSync(options.storeDir, { recursive: true });
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(bin, ['-js', '-sd', options.storeDir, '-a', '127.0.0.1', '-p', String(port)], {
      stdio: 'ignore',
      detached: options.detached ?? false,
    });
    await waitFor(() => isListening('127.0.0.1', port, 200), 15_000, `nats-server on port ${port}`);
    handle.process = child;
  };
  const stopChild = async (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  const handle: NatsServerProcess = {
    url: `nats://127.0.0.1:${port}`,
    origin: 'embedded',
    port,
    process: undefined as unknown as ChildProcess,
    stop: () => stopChild('SIGTERM'),
    kill: () => stopChild('SIGKILL'),
    restart: launch,
  };
  await launch();
  return handle;
}

/**
 * NATS, in this order: `NATS_URL`; the standard local port; for throwaway uses (tests) a testcontainers one
 * when a Docker engine is reachable; otherwise a nats-server started here.
 */
export async function findOrStartNats(options: {
  storeDir: string;
  env?: NodeJS.ProcessEnv;
  detached?: boolean;
  /** Throwaway servers (tests) may come from testcontainers when a Docker engine is reachable. */
  throwaway?: boolean;
}): Promise<NatsHandle> {
  const env = options.env ?? process.env;
  if (env.NATS_URL) return { url: env.NATS_URL, origin: 'env', stop: async () => {} };
  if (await isListening('127.0.0.1', 4222))
    return { url: 'nats://127.0.0.1:4222', origin: 'local', stop: async () => {} };
  if (options.throwaway && (await dockerEngineReachable(env))) {
    const container = await startNatsContainer();
    return { url: container.url, origin: 'container', stop: container.stop };
  }
  return startNatsServer({ storeDir: options.storeDir, detached: options.detached ?? false });
}
