import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { rawExchange, useListeningGateway } from '../support.js';

// `Expect: 100-continue` (RFC 9110 10.1.1): the gateway invites the body only once every check before
// the body passed; a refused request gets its final answer at once and the body is never asked for.

const t = useListeningGateway();

const BODY = JSON.stringify({ title: 'expect continue' });

function head(token: string | undefined, extra: string[] = []): string {
  return [
    'POST /v1/tasks HTTP/1.1',
    'Host: gateway.test',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(BODY)}`,
    'Expect: 100-continue',
    ...(token ? [`Authorization: Bearer ${token}`] : []),
    ...extra,
    '',
    '',
  ].join('\r\n');
}

describe('Expect: 100-continue', () => {
  it('without a token: 401 at once, no 100 Continue, and the service never sees the request', async () => {
    const before = t.upstreams.tasks!.seen.length;
    const res = await rawExchange(t.gateway.url, [head(undefined)], 1_500);
    expect(res.text).not.toContain('100 Continue');
    expect(res.status).toBe(401);
    expect(res.text.toLowerCase()).toContain('connection: close');
    expect(t.upstreams.tasks!.seen.length).toBe(before);
  });

  it('with a valid token: 100 Continue, then the body reaches the service without the Expect header', async () => {
    const before = t.upstreams.tasks!.seen.length;
    const { hostname, port } = new URL(t.gateway.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    let text = '';
    const received = new Promise<void>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (/\r\n\r\n[\s\S]*HTTP\/1\.1 \d{3}/.test(text) || /HTTP\/1\.1 [2-5]\d\d[\s\S]*\r\n\r\n/.test(text))
          resolve();
      }),
    );
    await new Promise((r) => socket.once('connect', r));
    socket.write(head(await t.signer.token()));
    // Only the interim answer arrives until the body is sent.
    await new Promise((r) => setTimeout(r, 300));
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    expect(t.upstreams.tasks!.seen.length).toBe(before);
    socket.write(BODY);
    await received;
    socket.destroy();
    expect(text).toMatch(/HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const seen = t.upstreams.tasks!.seen.at(-1)!;
    expect(t.upstreams.tasks!.seen.length).toBe(before + 1);
    expect(seen.body).toBe(BODY);
    expect(Object.keys(seen.headers)).not.toContain('expect');
  });
});
