import { describe, expect, it } from 'vitest';
import { isJetStreamAck, NatsClientFrameSplitter } from './nats-fault-proxy.js';

const stream = Buffer.from(
  [
    'CONNECT {"verbose":false,"pedantic":false}\r\n',
    'PING\r\n',
    'SUB _INBOX.abc 1\r\n',
    'PUB $JS.API.CONSUMER.MSG.NEXT.S.C _INBOX.abc.1 24\r\n{"batch":64,"expires":1}\r\n',
    'PUB $JS.ACK.S.C.1.5.5.1700000000000000000.0 4\r\n+ACK\r\n',
    'HPUB tasks.task.created _INBOX.x 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n',
    'pub $JS.ACK.S.C.2.6.6.1700000000000000000.0 0\r\n\r\n',
    'PONG\r\n',
  ].join(''),
  'latin1',
);

const describeFrames = (frames: ReturnType<NatsClientFrameSplitter['push']>) =>
  frames.map((f) => ({
    op: f.op,
    subject: f.subject,
    ack: isJetStreamAck(f),
    raw: f.raw.toString('latin1'),
  }));

describe('NatsClientFrameSplitter', () => {
  it('splits a stream into whole operations and spots JetStream acks', () => {
    const frames = describeFrames(new NatsClientFrameSplitter().push(stream));
    expect(frames.map((f) => [f.op, f.subject, f.ack])).toEqual([
      ['CONNECT', undefined, false],
      ['PING', undefined, false],
      ['SUB', undefined, false],
      ['PUB', '$JS.API.CONSUMER.MSG.NEXT.S.C', false],
      ['PUB', '$JS.ACK.S.C.1.5.5.1700000000000000000.0', true],
      ['HPUB', 'tasks.task.created', false],
      ['PUB', '$JS.ACK.S.C.2.6.6.1700000000000000000.0', true],
      ['PONG', undefined, false],
    ]);
    expect(frames.map((f) => f.raw).join('')).toBe(stream.toString('latin1'));
  });

  it('gives the same operations whatever the chunking, down to one byte at a time', () => {
    const whole = describeFrames(new NatsClientFrameSplitter().push(stream));
    for (const size of [1, 2, 3, 7, 16, 50]) {
      const splitter = new NatsClientFrameSplitter();
      const frames: ReturnType<NatsClientFrameSplitter['push']> = [];
      for (let i = 0; i < stream.length; i += size)
        frames.push(...splitter.push(stream.subarray(i, i + size)));
      expect(describeFrames(frames)).toEqual(whole);
    }
  });

  it('holds a publish until its payload is complete, even when the payload contains CRLF', () => {
    const splitter = new NatsClientFrameSplitter();
    expect(splitter.push(Buffer.from('PUB a 6\r\nx\r\n'))).toEqual([]);
    const frames = splitter.push(Buffer.from('y\r\n\r\nPING\r\n'));
    expect(frames.map((f) => f.raw.toString())).toEqual(['PUB a 6\r\nx\r\ny\r\n\r\n', 'PING\r\n']);
  });

  it('refuses a publish line without a byte count', () => {
    expect(() => new NatsClientFrameSplitter().push(Buffer.from('PUB a b c\r\n'))).toThrow(/malformed/);
  });
});
