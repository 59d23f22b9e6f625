import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '@offload/platform/errors';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Body caps for proxied routes. The proxy streams bodies to the service without parsing them, so
 * Fastify's own `bodyLimit` never applies: the cap is checked here twice, up front on `Content-Length`
 * (nothing is read or forwarded) and, for chunked bodies without a length, while the body streams (the
 * upload to the service is aborted the moment the cap is passed). Either way the client gets 413
 * `request_too_large` and the connection is closed, so the rest of the body is never read.
 */

/** Requests whose streamed body passed the cap. */
const tooLarge = new WeakSet<FastifyRequest>();

export function tooLargeError(limit: number): AppError {
  return new AppError('request_too_large', `the request body is larger than ${limit} bytes`);
}

/** True when the client sent (or is sending) a body the gateway has not read. */
export function hasPendingBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** The up-front check, for an `onRequest` hook: throws 413 when `Content-Length` is over the cap. */
export function checkDeclaredLength(request: FastifyRequest, limit: number): void {
  const length = Number(request.headers['content-length'] ?? 0);
  if (length > limit) throw tooLargeError(limit);
}

/** A `preParsing` hook that counts a body without `Content-Length` as it streams and stops it past the cap. */
export function streamingBodyLimit(limit: number) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: NodeJS.ReadableStream) => {
    // With a Content-Length the up-front check already held it to the cap, and Node's parser reads no
    // more than the length.
    if (request.headers['content-length'] !== undefined) return payload;
    if (request.headers['transfer-encoding'] === undefined) return payload;
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        received += chunk.length;
        if (received <= limit) return done(null, chunk);
        tooLarge.add(request);
        reply.header('connection', 'close');
        done(tooLargeError(limit));
      },
    });
    payload.on('error', (error) => counter.destroy(error));
    return payload.pipe(counter);
  };
}

/** Whether a failed upload to a service failed because the body passed the cap (answer 413, not 502). */
export function passedBodyLimit(request: FastifyRequest): boolean {
  return tooLarge.has(request);
}
