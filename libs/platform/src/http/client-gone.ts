import type { FastifyReply } from 'fastify';

/**
 * A signal that aborts when the client goes away: its response closed before it finished. Aborted at
 * once when the response is already closed (the client left during an earlier, async hook).
 *
 * Watch the response, not the request: on Node >= 16 the request's `close` fires as soon as its body has
 * been read, so Fastify's `request.signal`, which listens there, aborts for clients that are still
 * waiting for their answer.
 */
export function clientGoneSignal(reply: FastifyReply, reason?: () => unknown): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort(reason?.());
  if (reply.raw.destroyed) abort();
  else
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort();
    });
  return controller.signal;
}
