import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  bearer,
  CONSENT,
  rawExchange,
  startGateway,
  upstreamEnv,
  useListeningGateway,
  type TestGateway,
} from '../support.js';

// Body caps per route prefix (DESIGN 6): /v1/ai 16 KB, /v1/tasks 64 KB, everything else 256 KB by
// default; 413 request_too_large in the envelope, checked on Content-Length before anything is read
// and while a chunked body streams.

const t = useListeningGateway();

const KB = 1024;

async function post(gw: TestGateway, url: string, bytes: number) {
  return gw.app.inject({
    method: 'POST',
    url,
    headers: { ...bearer(await t.signer.token()), ...CONSENT, 'content-type': 'text/plain' },
    payload: 'x'.repeat(bytes),
  });
}

/** Sends a chunked body (no Content-Length) in 1 KB pieces and waits for the answer. */
async function postChunked(url: string, bytes: number): Promise<{ status: number; body: string }> {
  const req = httpRequest(`${t.gateway.url}${url}`, {
    method: 'POST',
    headers: {
      ...bearer(await t.signer.token()),
      ...CONSENT,
      'content-type': 'text/plain',
      'transfer-encoding': 'chunked',
    },
  });
  for (let sent = 0; sent < bytes; sent += KB) req.write(Buffer.alloc(Math.min(KB, bytes - sent), 'y'));
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode ?? 0, body };
}

describe('body size caps', () => {
  for (const [label, url, service, limit] of [
    ['/v1/ai', '/v1/ai/chat', 'ai', 16 * KB],
    ['/v1/tasks', '/v1/tasks', 'tasks', 64 * KB],
    ['the default', '/v1/notes', 'tasks', 256 * KB],
  ] as const) {
    it(`oversized body on ${label}: ${limit} bytes pass, ${limit + 1} are 413 request_too_large`, async () => {
      const atLimit = await post(t.gateway, url, limit);
      expect(atLimit.statusCode).toBe(200);
      expect(t.upstreams[service]!.seen.at(-1)!.body).toHaveLength(limit);

      const before = t.upstreams[service]!.seen.length;
      const past = await post(t.gateway, url, limit + 1);
      expect(past.statusCode).toBe(413);
      expect(past.json().error).toMatchObject({
        code: 'request_too_large',
        request_id: past.headers['x-request-id'],
      });
      expect(past.headers.connection).toBe('close');
      expect(t.upstreams[service]!.seen.length).toBe(before);
    });
  }

  it('caps come from configuration (BODY_LIMITS, BODY_LIMIT_DEFAULT)', async () => {
    const gw = await startGateway(
      { ...upstreamEnv(t.upstreams), BODY_LIMITS: '/v1/notes=1kb', BODY_LIMIT_DEFAULT: '2kb' },
      { jwks: t.signer.jwks },
    );
    try {
      expect((await post(gw, '/v1/notes/1', KB)).statusCode).toBe(200);
      expect((await post(gw, '/v1/notes/1', KB + 1)).statusCode).toBe(413);
      // /v1/ai has no entry any more: the default applies.
      expect((await post(gw, '/v1/ai/chat', 2 * KB)).statusCode).toBe(200);
      expect((await post(gw, '/v1/ai/chat', 2 * KB + 1)).statusCode).toBe(413);
    } finally {
      await gw.close();
    }
  });

  it('an announced oversized body is refused before it is sent, and never read', async () => {
    const before = t.upstreams.tasks!.seen.length;
    const exchange = await rawExchange(t.gateway.url, [
      `POST /v1/tasks HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${await t.signer.token()}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${64 * KB + 1}\r\n\r\n`,
    ]);
    expect(exchange.status).toBe(413);
    expect(exchange.text).toContain('"request_too_large"');
    expect(exchange.closedByServer).toBe(true);
    expect(t.upstreams.tasks!.seen.length).toBe(before);
  });

  it('a chunked body without Content-Length is stopped as it streams past the cap', async () => {
    const before = t.upstreams.ai!.seen.length;
    // 20 chunks of 1 KB past the 16 KB cap of /v1/ai, and no final chunk: the body never ends, so only
    // a check made while it streams can answer.
    const chunk = `400\r\n${'y'.repeat(KB)}\r\n`;
    const exchange = await rawExchange(t.gateway.url, [
      `POST /v1/ai/chat HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${await t.signer.token()}\r\n` +
        'X-Offload-Cloud-Opt-In: true\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n',
      ...Array.from({ length: 20 }, () => chunk),
    ]);
    expect(exchange.status).toBe(413);
    expect(exchange.text).toContain('"request_too_large"');
    expect(exchange.closedByServer).toBe(true);
    expect(t.upstreams.ai!.seen.length).toBe(before);
  });

  it('a chunked body within the cap reaches the service whole', async () => {
    const result = await postChunked('/v1/ai/chat', 16 * KB);
    expect(result.status).toBe(200);
    const seen = t.upstreams.ai!.seen.at(-1)!;
    expect(seen.body).toHaveLength(16 * KB);
    expect(seen.headers['transfer-encoding']).toBe('chunked');
  });
});
