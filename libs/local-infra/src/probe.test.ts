import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './probe.js';

const listen = (port: number) =>
  new Promise<() => Promise<void>>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () =>
      resolve(() => new Promise((r) => server.close(() => r()))),
    );
  });

describe('freePort', () => {
  it('gives a port a server can bind at once, outside the ephemeral range on Linux', async () => {
    const port = await freePort();
    const close = await listen(port);
    await close();
    let low = 0;
    try {
      low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    } catch {
      // not Linux
    }
    if (low > 11_000) expect(port).toBeLessThan(low);
  });

  it('never gives a port that is taken', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    const closers = [];
    for (const port of new Set(ports)) closers.push(await listen(port));
    const more = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of more) expect(ports).not.toContain(port);
    for (const close of closers) await close();
  });
});
