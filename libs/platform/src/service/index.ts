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
    if (err) options.logger.fatal({ error: err.name }, 'shutting down after an uncaught error');
    else options.logger.info({ signal }, 'shutting down');
    await app.close();
    for (const close of options.onClose ?? []) await close().catch(() => undefined);
  });
  // A deeper accept queue than Node's 511, so a burst of connections is not dropped at the socket.
  const address = await app.listen({ port: options.port, host: options.host, backlog: 4096 });
  options.logger.info({ address }, 'listening');
  return address;
}
