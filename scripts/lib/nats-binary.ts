import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Output } from './output.js';

export const NATS_INSTALL_HELP = [
  'npm start needs a NATS server with JetStream and found none:',
  '  nothing listens on 127.0.0.1:4222, NATS_URL is not set, and there is no nats-server binary.',
  'Install nats-server and run npm start again:',
  '  Debian/Ubuntu:  sudo apt-get install nats-server',
  '  macOS:          brew install nats-server',
  '  elsewhere:      https://github.com/nats-io/nats-server/releases (put it on PATH or set NATS_SERVER_BIN)',
  'or point npm start at a running one:  NATS_URL=nats://host:4222 npm start',
].join('\n');

/** True on Debian, Ubuntu and their derivatives, running as root, with apt-get at hand. */
export function canInstallWithApt(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  if (!['/usr/bin/apt-get', '/bin/apt-get'].some((p) => existsSync(p))) return false;
  try {
    const release = readFileSync('/etc/os-release', 'utf8');
    const ids = [/^ID=(.*)$/m, /^ID_LIKE=(.*)$/m]
      .map((re) => re.exec(release)?.[1]?.replace(/"/g, '') ?? '')
      .join(' ');
    return /\b(debian|ubuntu)\b/.test(ids);
  } catch {
    return false;
  }
}

/** Runs a command with its output prefixed; resolves with its exit code. */
function run(command: string, args: string[], output: Output, name: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    const forward = (to: 'stdout' | 'stderr') => (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) output.line(name, line, to);
    };
    child.stdout.on('data', forward('stdout'));
    child.stderr.on('data', forward('stderr'));
    child.once('error', () => resolve(127));
    child.once('close', (code) => resolve(code ?? 1));
  });
}

/**
 * `apt-get install -y nats-server`; when the package lists are missing or stale (a fresh machine), it
 * updates them once and tries again.
 */
export async function installNatsServerWithApt(output: Output): Promise<boolean> {
  output.line('launcher', 'nats-server not found; installing the Debian package with apt-get');
  if ((await run('apt-get', ['install', '-y', 'nats-server'], output, 'apt-get')) === 0) return true;
  output.line('launcher', 'apt-get install failed; updating the package lists and trying once more');
  if ((await run('apt-get', ['update'], output, 'apt-get')) !== 0) return false;
  return (await run('apt-get', ['install', '-y', 'nats-server'], output, 'apt-get')) === 0;
}
