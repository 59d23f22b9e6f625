import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Output } from './output.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedChild {
  name: string;
  pid: number;
  process: ChildProcess;
  /** Resolves once the process exited and its output was fully written. */
  closed: Promise<ExitStatus>;
  /** True once we asked it to stop (its exit is then expected). */
  stopping: boolean;
  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs: number): Promise<ExitStatus & { forced: boolean }>;
  /** SIGKILL to its process group now. */
  kill(): void;
  /** The port the child reports it bound (see `serve` in @offload/platform/service); rejects if it exits first. */
  listening: Promise<number>;
}

/**
 * Starts a process in its own process group (`detached`), with its output prefixed line by line. Its own
 * group means a Ctrl-C in the terminal reaches only the launcher, which then stops the children itself,
 * in order and exactly once (a second signal would make a service skip its graceful close).
 */
export function startChild(options: {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  output: Output;
  onUnexpectedExit: (child: ManagedChild, status: ExitStatus) => void;
}): ManagedChild {
  const proc = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    // The IPC channel carries one message: the port the child bound (it is started on port 0).
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
  });
  if (proc.pid === undefined) {
    throw new Error(`could not start ${options.name}`);
  }
  const pipe = (stream: NodeJS.ReadableStream, to: 'stdout' | 'stderr') =>
    new Promise<void>((resolve) => {
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => options.output.line(options.name, line, to));
      lines.on('close', resolve);
    });
  const drained = Promise.all([pipe(proc.stdout!, 'stdout'), pipe(proc.stderr!, 'stderr')]);
  const exited = new Promise<ExitStatus>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', () => resolve({ code: null, signal: null }));
  });
  const listening = new Promise<number>((resolve, reject) => {
    proc.on('message', (message: unknown) => {
      const { type, port } = (message ?? {}) as { type?: unknown; port?: unknown };
      if (type === 'offload:listening' && typeof port === 'number') resolve(port);
    });
    void exited.then(() => reject(new Error(`${options.name} exited before it listened`)));
  });
  listening.catch(() => undefined);
  // Output first (a crash's last lines explain it), but never wait long for a pipe a grandchild holds.
  const closed = exited.then((status) =>
    Promise.race([drained, new Promise((r) => setTimeout(r, 2_000).unref())]).then(() => status),
  );

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-proc.pid!, signal);
    } catch {
      try {
        proc.kill(signal);
      } catch {
        // already gone
      }
    }
  };
  let running = true;
  void exited.then(() => {
    running = false;
  });

  const child: ManagedChild = {
    name: options.name,
    pid: proc.pid,
    process: proc,
    closed,
    stopping: false,
    async stop(graceMs) {
      child.stopping = true;
      let forced = false;
      if (running) {
        signalGroup('SIGTERM');
        const timer = setTimeout(() => {
          if (!running) return;
          forced = true;
          signalGroup('SIGKILL');
        }, graceMs);
        timer.unref();
        const status = await closed;
        clearTimeout(timer);
        return { ...status, forced };
      }
      return { ...(await closed), forced };
    },
    kill() {
      child.stopping = true;
      if (running) signalGroup('SIGKILL');
    },
    listening,
  };
  void closed.then((status) => {
    if (!child.stopping) options.onUnexpectedExit(child, status);
  });
  return child;
}

export function describeExit(status: ExitStatus): string {
  if (status.signal) return `killed by ${status.signal}`;
  return `exit code ${status.code ?? 'unknown'}`;
}
