import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createTestSigner } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  bearer,
  CONSENT,
  startGateway,
  startUpstreams,
  upstreamEnv,
  type TestGateway,
  type Upstream,
} from './support.js';

// SSE and WebSocket pass through unbuffered, and no timeout of the gateway cuts a live stream (DESIGN 6).
// Every timeout here is set short (300 ms); the streams run several times longer.

const SHORT_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let upstreams: Record<string, Upstream>;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
let gateway: TestGateway;

beforeAll(async () => {
  signer = await createTestSigner();
  upstreams = await startUpstreams();
  gateway = await startGateway(
    {
      ...upstreamEnv(upstreams),
      UPSTREAM_TIMEOUT_MS: String(SHORT_MS),
      REQUEST_TIMEOUT_MS: String(SHORT_MS),
      HEALTH_TIMEOUT_MS: String(SHORT_MS),
    },
    { jwks: signer.jwks, listen: true },
  );
});

afterAll(async () => {
  await gateway?.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
});

/** An SSE answer from the ai stand-in: `events` written with the given pauses before each. */
function sseUpstream(events: Array<[pauseMs: number, data: string]>) {
  upstreams.ai!.override = async (_request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const [pause, data] of events) {
      await sleep(pause);
      if (reply.raw.destroyed) return reply;
      reply.raw.write(`data: ${data}\n\n`);
    }
    reply.raw.end();
    return reply;
  };
}

/** Posts a chat request asking for SSE; collects each chunk with the time it arrived. */
async function streamChat(): Promise<{
  status: number;
  chunks: Array<[ms: number, text: string]>;
  ended: 'end' | 'aborted';
}> {
  const started = Date.now();
  const req = httpRequest(`${gateway.url}/v1/ai/chat`, {
    method: 'POST',
    headers: {
      ...bearer(await signer.token()),
      ...CONSENT,
      accept: 'text/event-stream',
      'content-type': 'application/json',
    },
  });
  req.end(JSON.stringify({ message: 'what is next?' }));
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const chunks: Array<[number, string]> = [];
  res.on('data', (chunk: Buffer) => chunks.push([Date.now() - started, chunk.toString()]));
  const ended = await new Promise<'end' | 'aborted'>((resolve) => {
    res.on('end', () => resolve(res.complete ? 'end' : 'aborted'));
    res.on('error', () => resolve('aborted'));
    res.on('aborted', () => resolve('aborted'));
  });
  return { status: res.statusCode ?? 0, chunks, ended };
}

describe('streams through the gateway', () => {
  it('an SSE stream outlives the upstream and request timeouts, silent gaps included, unbuffered', async () => {
    // 5 events over about 3.5 s, with a silent gap of 2.5 s: eight times every timeout, and longer than
    // undici's timer granularity (about a second) would let a 300 ms timeout slip.
    sseUpstream([
      [0, 'one'],
      [2_500, 'two'],
      [350, 'three'],
      [350, 'four'],
      [350, 'five'],
    ]);
    try {
      const { status, chunks, ended } = await streamChat();
      expect(status).toBe(200);
      expect(ended).toBe('end');
      expect(chunks.map(([, text]) => text).join('')).toBe(
        ['one', 'two', 'three', 'four', 'five'].map((d) => `data: ${d}\n\n`).join(''),
      );
      // Unbuffered: the first event arrived long before the stream ended.
      const first = chunks[0]![0];
      const last = chunks.at(-1)![0];
      expect(last - first).toBeGreaterThanOrEqual(3_000);
      expect(last).toBeGreaterThan(5 * SHORT_MS);
    } finally {
      upstreams.ai!.override = undefined;
    }
  });

  it('a stream that stays silent longer than UPSTREAM_IDLE_TIMEOUT_MS is cut', async () => {
    const idle = await startGateway(
      { ...upstreamEnv(upstreams), UPSTREAM_IDLE_TIMEOUT_MS: '400' },
      { jwks: signer.jwks, listen: true },
    );
    sseUpstream([
      [0, 'one'],
      [3_000, 'never'],
    ]);
    try {
      const started = Date.now();
      const req = httpRequest(`${idle.url}/v1/ai/chat`, {
        method: 'POST',
        headers: { ...bearer(await signer.token()), ...CONSENT, 'content-type': 'application/json' },
      });
      req.on('error', () => undefined);
      req.end('{}');
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      res.on('error', () => undefined);
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      await new Promise((resolve) => res.on('close', resolve));
      expect(text).toBe('data: one\n\n');
      expect(res.complete).toBe(false);
      // Cut by the idle timeout (undici checks it about once a second), not ended by the service at 3 s.
      expect(Date.now() - started).toBeLessThan(2_900);
    } finally {
      upstreams.ai!.override = undefined;
      await idle.close();
    }
  });

  it('a WebSocket stays open past every timeout and echoes text and binary both ways', async () => {
    const ws = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}/v1/voice/stream`);
    await once(ws, 'open');
    try {
      const exchange = async (data: string | Buffer) => {
        ws.send(data);
        const [message, binary] = (await once(ws, 'message')) as [Buffer, boolean];
        return binary ? message : String(message);
      };
      expect(await exchange('first')).toBe('voice:first');
      await sleep(4 * SHORT_MS);
      expect(await exchange('after a silence')).toBe('voice:after a silence');
      const audio = Buffer.from([0, 1, 2, 250, 251, 255]);
      expect(await exchange(audio)).toEqual(audio);
      await sleep(4 * SHORT_MS);
      expect(await exchange('still here')).toBe('voice:still here');
      expect(ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      ws.close();
    }
  });
});
