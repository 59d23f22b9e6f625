import type { AddressInfo } from 'node:net';
import closeWithGrace from 'close-with-grace';
import type { App } from '../http/index.js';
import type { Logger } from '../logger/index.js';

export interface ServeOptions {
  port: number;
  host: string;
  logger: Logger;
  /** Closed after the HTTP server stops accepting requests, in order. */
  onClose?: Array<() => Promise<void>>;
}

/**
 * The process side of a service (server.ts): listen, log the address, and on SIGINT/SIGTERM or a crash
 * close the server, then consumers, relays, NATS and Postgres, within a grace period.
 */
export async function serve(app: App, options: ServeOptions): Promise<string> {
  app.server.keepAliveTimeout = 72_000;
  app.server.headersTimeout = 75_000;
  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    // The class, code and frames say where it broke; the message may quote input, so it stays out.
    if (err) options.logger.fatal(describeCrash(err), 'shutting down after an uncaught error');
    else options.logger.info({ signal }, 'shutting down');
    await app.close();
    for (const close of options.onClose ?? []) await close().catch(() => undefined);
  });
  // A deeper accept queue than Node's 511, so a burst of connections is not dropped at the socket.
  const address = await app.listen({ port: options.port, host: options.host, backlog: 4096 });
  options.logger.info({ address }, 'listening');
  // A supervisor that started us with an IPC channel (npm start) learns the port we really bound, so it
  // can hand out port 0 instead of guessing a free port that someone else may take first.
  const bound = app.server.address() as AddressInfo | null;
  if (process.send && bound)
    process.send({ type: 'offload:listening', port: bound.port }, undefined, {}, () => {});
  return address;
}

/** What a crash log may carry: no message (it can quote user input), but enough to find the line. */
export function describeCrash(err: Error): { error: string; code?: string; frames: string[] } {
  const code = (err as { code?: unknown }).code;
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 8)
    .map((line) => line.trim());
  return { error: err.name, ...(typeof code === 'string' ? { code } : {}), frames };
}
