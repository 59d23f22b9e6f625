import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../logger/index.js';
import { serveRpc, type Bus } from './index.js';

/** A bus whose subscription yields the given messages once, then ends. */
function busDelivering(messages: unknown[]): Bus {
  return {
    subject: (name: string) => name,
    nc: {
      subscribe: () => ({
        async *[Symbol.asyncIterator]() {
          yield* messages;
        },
        unsubscribe: () => undefined,
      }),
    },
  } as unknown as Bus;
}

const ping = {
  subject: 'test.ping',
  request: z.object({ n: z.number() }),
  response: z.object({ n: z.number() }),
};

function captureLogs() {
  const lines: Array<{ msg: string; rpc?: string; error?: string }> = [];
  const logger = createLogger({
    service: 'test',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { lines, logger };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('serveRpc', () => {
  it('answers in the reply envelope, and refuses a malformed request with a code, not a crash', async () => {
    const replies: string[] = [];
    const message = (body: unknown) => ({
      json: () => body,
      respond: (data: string) => void replies.push(data),
    });
    const { logger } = captureLogs();
    serveRpc(busDelivering([message({ n: 1 }), message({ n: 'x' })]), ping, async ({ n }) => ({ n: n + 1 }), {
      queue: 'q',
      logger,
    });
    await settle();
    expect(replies.map((r) => JSON.parse(r))).toEqual([
      { ok: true, data: { n: 2 } },
      { ok: false, error: { code: 'internal_error', message: 'internal call failed' } },
    ]);
  });

  it('logs a reply that cannot be sent (the connection closed) instead of an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { lines, logger } = captureLogs();
      const closed = Object.assign(new Error('connection closed'), { name: 'ClosedConnectionError' });
      const message = {
        json: () => ({ n: 1 }),
        respond: () => {
          throw closed;
        },
      };
      serveRpc(busDelivering([message]), ping, async ({ n }) => ({ n }), { queue: 'q', logger });
      await settle();
      expect(unhandled).toEqual([]);
      expect(lines).toContainEqual(
        expect.objectContaining({
          msg: 'rpc reply not sent',
          rpc: 'test.ping',
          error: 'ClosedConnectionError',
        }),
      );
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
