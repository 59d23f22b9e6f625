import { EventEmitter } from 'node:events';
import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { clientGoneSignal } from './client-gone.js';

const replyWith = (state: { destroyed: boolean; writableFinished: boolean }) => {
  const raw = Object.assign(new EventEmitter(), state);
  return { reply: { raw } as unknown as FastifyReply, raw };
};

describe('clientGoneSignal', () => {
  it('aborts when the response closes before it finished, with the given reason', () => {
    const { reply, raw } = replyWith({ destroyed: false, writableFinished: false });
    const reason = new Error('gone');
    const signal = clientGoneSignal(reply, () => reason);
    expect(signal.aborted).toBe(false);
    raw.emit('close');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
  });

  it('stays quiet when the response finished before it closed', () => {
    const { reply, raw } = replyWith({ destroyed: false, writableFinished: false });
    const signal = clientGoneSignal(reply);
    raw.writableFinished = true;
    raw.emit('close');
    expect(signal.aborted).toBe(false);
  });

  it('is aborted at once when the response is already closed', () => {
    const { reply } = replyWith({ destroyed: true, writableFinished: false });
    expect(clientGoneSignal(reply).aborted).toBe(true);
  });
});
