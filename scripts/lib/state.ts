import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a running npm start owns, in `<data>/launcher.json`: its own pid and every process it started.
 * A launcher that was killed outright (SIGKILL, a crash) cannot stop its children; the next start finds
 * them here and stops them before it starts new ones on the same data (two nats-servers or postgres
 * processes on one directory must never run at once).
 */
export interface TrackedProcess {
  name: string;
  pid: number;
  /** Text the process's command line contains, so a recycled pid is never taken for ours. */
  match: string;
  /** How it is asked to stop (postgres: SIGINT = fast shutdown). */
  signal: NodeJS.Signals;
  /** Whether it leads its own process group (then the whole group is signalled). */
  group: boolean;
}

interface State {
  pid: number;
  processes: TrackedProcess[];
}

export interface LauncherState {
  track(process: TrackedProcess): void;
  /** Forgets everything: called after a clean stop. */
  clear(): void;
}

const fileOf = (dataDir: string) => join(dataDir, 'launcher.json');

function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    // no /proc (macOS) or no such process: fall back to "is it alive at all"
    try {
      process.kill(pid, 0);
      return '';
    } catch {
      return undefined;
    }
  }
}

function isOurs(pid: number, match: string): boolean {
  const command = commandLine(pid);
  if (command === undefined) return false;
  return command === '' || command.includes(match);
}

function signal(tracked: TrackedProcess, sig: NodeJS.Signals) {
  try {
    process.kill(tracked.group ? -tracked.pid : tracked.pid, sig);
  } catch {
    try {
      process.kill(tracked.pid, sig);
    } catch {
      // gone
    }
  }
}

async function waitGone(list: TrackedProcess[], ms: number): Promise<TrackedProcess[]> {
  const deadline = Date.now() + ms;
  let alive = list.filter((p) => isOurs(p.pid, p.match));
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    alive = alive.filter((p) => isOurs(p.pid, p.match));
  }
  return alive;
}

/** Stops processes in two waves (services first, then the servers they use), SIGKILL as last resort. */
async function stopLeftovers(leftovers: TrackedProcess[]): Promise<void> {
  const servers = new Set(['nats-server', 'Postgres']);
  for (const wave of [
    leftovers.filter((p) => !servers.has(p.name)),
    leftovers.filter((p) => servers.has(p.name)),
  ]) {
    for (const p of wave) signal(p, p.signal);
    for (const p of await waitGone(wave, 10_000)) signal(p, 'SIGKILL');
    await waitGone(wave, 2_000);
  }
}

/**
 * Claims `dataDir` for this launcher. Fails when another live npm start holds it; stops what a killed
 * one left behind. Returns what to tell the user about it, if anything.
 */
export async function claimDataDir(
  dataDir: string,
  launcherMatch: string,
): Promise<{ state: LauncherState; cleaned: string[] }> {
  mkdirSync(dataDir, { recursive: true });
  const file = fileOf(dataDir);
  let previous: State | undefined;
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as State;
  } catch {
    previous = undefined;
  }
  const cleaned: string[] = [];
  if (previous && previous.pid !== process.pid) {
    if (isOurs(previous.pid, launcherMatch)) {
      throw new Error(
        `another npm start (pid ${previous.pid}) is using ${dataDir}. Stop it first, or give this one its ` +
          'own data directory: OFFLOAD_DATA_DIR=.data-2 GATEWAY_PORT=8081 npm start',
      );
    }
    const leftovers = previous.processes.filter((p) => isOurs(p.pid, p.match));
    if (leftovers.length > 0) {
      await stopLeftovers(leftovers);
      cleaned.push(...leftovers.map((p) => `${p.name} (pid ${p.pid})`));
    }
  }
  const state: State = { pid: process.pid, processes: [] };
  const save = () => {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, file);
  };
  save();
  return {
    cleaned,
    state: {
      track(tracked) {
        state.processes.push(tracked);
        save();
      },
      clear() {
        rmSync(file, { force: true });
      },
    },
  };
}
