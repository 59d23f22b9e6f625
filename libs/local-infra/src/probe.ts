import { readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';

/** True when something accepts TCP connections at host:port within the timeout. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host);
  });
}

/** A port the OS says is free right now. */
/**
 * A port that is free now, for a server someone else will start (nats-server, Postgres). Picked at random
 * below the kernel's ephemeral range when that leaves room: a port from the ephemeral range (what port 0
 * gives) can be taken by any outgoing connection before the server binds it.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralPortsStart();
  if (low > 11_000) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
      if (await canBind(port)) return port;
    }
  }
  return bindAny();
}

/** The first port of the kernel's ephemeral range (Linux); 0 when it cannot be read. */
function ephemeralPortsStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 0;
  } catch {
    return 0; // not Linux
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function bindAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
