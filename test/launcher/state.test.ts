import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimDataDir } from '../../scripts/lib/state.js';

/** A harmless long-running process whose command line contains `marker`. */
function dummy(marker: string): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], {
    detached: true,
    stdio: 'ignore',
  });
}

const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
};

const started: ChildProcess[] = [];
const dirs: string[] = [];
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'offload-state-'));
  dirs.push(dir);
  return dir;
};

afterEach(() => {
  for (const child of started.splice(0)) if (child.pid && alive(child.pid)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the launcher state file', () => {
  it('records what it starts and forgets it after a clean stop', async () => {
    const dir = dataDir();
    const { state, cleaned } = await claimDataDir(dir, 'scripts/start.ts');
    expect(cleaned).toEqual([]);
    state.track({ name: 'tasks', pid: 4242, match: 'services/tasks', signal: 'SIGTERM', group: true });
    const saved = JSON.parse(readFileSync(join(dir, 'launcher.json'), 'utf8'));
    expect(saved.pid).toBe(process.pid);
    expect(saved.processes).toEqual([
      { name: 'tasks', pid: 4242, match: 'services/tasks', signal: 'SIGTERM', group: true },
    ]);
    state.clear();
    expect(existsSync(join(dir, 'launcher.json'))).toBe(false);
  });

  it('refuses a data directory another live launcher holds', async () => {
    const dir = dataDir();
    const other = dummy('scripts/start.ts');
    started.push(other);
    writeFileSync(join(dir, 'launcher.json'), JSON.stringify({ pid: other.pid, processes: [] }));
    await expect(claimDataDir(dir, 'scripts/start.ts')).rejects.toThrow(
      new RegExp(`another npm start \\(pid ${other.pid}\\) is using`),
    );
  });

  it('stops what a killed launcher left, but never a process that only reuses a recorded pid', async () => {
    const dir = dataDir();
    const leftover = dummy('services/usage/src/server.ts');
    const stranger = dummy('something-else.js');
    started.push(leftover, stranger);
    writeFileSync(
      join(dir, 'launcher.json'),
      JSON.stringify({
        pid: 2 ** 22 + 1, // beyond pid_max: certainly not running
        processes: [
          {
            name: 'usage',
            pid: leftover.pid,
            match: 'services/usage/src/server.ts',
            signal: 'SIGTERM',
            group: true,
          },
          {
            name: 'tasks',
            pid: stranger.pid,
            match: 'services/tasks/src/server.ts',
            signal: 'SIGTERM',
            group: true,
          },
        ],
      }),
    );
    const { cleaned } = await claimDataDir(dir, 'scripts/start.ts');
    expect(cleaned).toEqual([`usage (pid ${leftover.pid})`]);
    expect(alive(leftover.pid!)).toBe(false);
    expect(alive(stranger.pid!)).toBe(true);
  });
});
