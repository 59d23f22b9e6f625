import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * One client -> server operation of the NATS text protocol, with its exact bytes. `subject` is set for
 * PUB and HPUB (`PUB <subject> [reply] <#bytes>\r\n<payload>\r\n`, `HPUB <subject> [reply] <#header
 * bytes> <#total bytes>\r\n<headers+payload>\r\n`); other operations (CONNECT, SUB, PING, ...) are one line.
 */
export interface NatsClientFrame {
  op: string;
  subject: string | undefined;
  raw: Buffer;
}

const LF = 0x0a;

/**
 * Splits the client -> server byte stream into whole protocol operations, whatever the TCP chunking:
 * an operation cut across chunks is held until its last byte arrives.
 */
export class NatsClientFrameSplitter {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): NatsClientFrame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: NatsClientFrame[] = [];
    let offset = 0;
    for (;;) {
      const lineEnd = this.pending.indexOf(LF, offset);
      if (lineEnd === -1) break;
      const line = this.pending.toString('latin1', offset, lineEnd).replace(/\r$/, '');
      const [opToken = '', ...args] = line.trim().split(/\s+/);
      const op = opToken.toUpperCase();
      let end = lineEnd + 1;
      let subject: string | undefined;
      if (op === 'PUB' || op === 'HPUB') {
        subject = args[0];
        const size = Number(args[args.length - 1]);
        if (!Number.isInteger(size) || size < 0) throw new Error(`malformed ${op} line`);
        // The payload is followed by CRLF.
        if (this.pending.length < end + size + 2) break;
        end += size + 2;
      }
      frames.push({ op, subject, raw: this.pending.subarray(offset, end) });
      offset = end;
    }
    this.pending = offset === 0 ? this.pending : Buffer.from(this.pending.subarray(offset));
    return frames;
  }
}

/** JetStream acknowledgements (ack, nak, term, in-progress) are publishes to the message's `$JS.ACK.` reply. */
export function isJetStreamAck(frame: NatsClientFrame): boolean {
  return (frame.op === 'PUB' || frame.op === 'HPUB') && (frame.subject?.startsWith('$JS.ACK.') ?? false);
}

export interface NatsFaultProxyStats {
  connections: number;
  acksForwarded: number;
  acksDropped: number;
}

export interface NatsFaultProxy {
  /** `nats://127.0.0.1:<port>`: give this to the client under test instead of the real server. */
  url: string;
  /**
   * While on, JetStream acks from clients never reach the server (as if the process died right after
   * its effect and before its ack); everything else passes unchanged, in order.
   */
  dropAcks(on: boolean): void;
  readonly stats: NatsFaultProxyStats;
  /** Cuts every proxied connection at once, as a network failure would. */
  disconnectAll(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy between a NATS client and server that can drop chosen client -> server operations.
 * Server -> client bytes are passed through untouched.
 */
export async function startNatsFaultProxy(options: {
  /** The real server, `nats://host:port`. */
  target: string;
  port?: number;
}): Promise<NatsFaultProxy> {
  const target = new URL(options.target.split(',')[0]!);
  const targetPort = Number(target.port || 4222);
  const targetHost = target.hostname;
  const sockets = new Set<Socket>();
  const stats: NatsFaultProxyStats = { connections: 0, acksForwarded: 0, acksDropped: 0 };
  let dropping = false;

  const server: Server = createServer((client) => {
    stats.connections++;
    const upstream = connect({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const splitter = new NatsClientFrameSplitter();
    const teardown = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', teardown).on('close', teardown);
    upstream.on('error', teardown).on('close', teardown);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      let frames: NatsClientFrame[];
      try {
        frames = splitter.push(chunk);
      } catch {
        teardown();
        return;
      }
      for (const frame of frames) {
        if (isJetStreamAck(frame)) {
          if (dropping) {
            stats.acksDropped++;
            continue;
          }
          stats.acksForwarded++;
        }
        upstream.write(frame.raw);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no TCP address');

  const disconnectAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  return {
    url: `nats://127.0.0.1:${address.port}`,
    dropAcks(on) {
      dropping = on;
    },
    stats,
    disconnectAll,
    async close() {
      disconnectAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
