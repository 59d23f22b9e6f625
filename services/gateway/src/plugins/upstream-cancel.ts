import { clientGoneSignal } from '@offload/platform/http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

/**
 * A client that hangs up cancels the service call it started. `@fastify/reply-from` passes no abort
 * signal to undici and only notices a closed client once the service has answered, so a breakdown
 * whose client left still ran at ai, called the provider and was charged (DESIGN 7: the client's
 * disconnect cancels the provider call). Here:
 *   - `watchClient` (an `onRequest` hook) gives each proxied request an AbortSignal that fires when its
 *     response closes before it finished: the client went away;
 *   - `withCancelSignal` puts that signal on the outgoing headers object, under a symbol (headers are
 *     the one thing reply-from carries from the request to the upstream call; a symbol key is never sent);
 *   - `cancellablePool` is the undici pool the proxy sends through: it takes the signal off the headers
 *     and hands it to undici, which aborts the upstream request and closes its connection.
 */
const CANCEL_SIGNAL = Symbol('offload.gateway.cancelSignal');

const signals = new WeakMap<FastifyRequest, AbortSignal>();

export async function watchClient(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  signals.set(
    request,
    clientGoneSignal(reply, () => new ClientClosedError()),
  );
}

/** True when the request's client hung up before its response finished. */
export function clientGone(request: FastifyRequest): boolean {
  return signals.get(request)?.aborted === true;
}

export function withCancelSignal(request: FastifyRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const signal = signals.get(request);
  if (signal) (headers as Record<symbol, unknown>)[CANCEL_SIGNAL] = signal;
  return headers;
}

/** The reason an upstream call was aborted: its client left. */
class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
  readonly code = 'CLIENT_CLOSED';
  constructor() {
    super('the client closed the request');
  }
}

/** An undici pool to one service whose requests abort with their client (see above). */
export function cancellablePool(origin: string, options: Pool.Options) {
  const pool = new Pool(origin, options);
  const request = ((opts: Dispatcher.RequestOptions, callback?: unknown) => {
    const headers = opts.headers as (IncomingHttpHeaders & Record<symbol, unknown>) | undefined;
    const signal = headers?.[CANCEL_SIGNAL] as AbortSignal | undefined;
    if (signal) delete headers![CANCEL_SIGNAL];
    const withSignal = signal ? { ...opts, signal } : opts;
    return (pool.request as (o: Dispatcher.RequestOptions, cb?: unknown) => unknown)(withSignal, callback);
  }) as Dispatcher['request'];
  return {
    request,
    close: () => pool.close(),
    destroy: () => pool.destroy(),
  };
}
