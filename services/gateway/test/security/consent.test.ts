import { describe, expect, it } from 'vitest';
import { bearer, CONSENT, rawExchange, useListeningGateway } from '../support.js';

// Cloud AI consent (DESIGN 6, 7): /v1/ai/* without `X-Offload-Cloud-Opt-In: true` is 403
// consent_required, decided before the body is read or anything is forwarded.

const t = useListeningGateway();

const breakdown = async (headers: Record<string, string>) =>
  t.gateway.app.inject({
    method: 'POST',
    url: '/v1/ai/breakdown/generate',
    headers: { ...bearer(await t.signer.token()), 'content-type': 'application/json', ...headers },
    payload: { input_text: 'clean the garage', granularity: 3 },
  });

describe('cloud AI consent', () => {
  it('missing consent header: 403 consent_required, and the ai service sees nothing', async () => {
    const before = t.upstreams.ai!.seen.length;
    const res = await breakdown({});
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toMatchObject({
      code: 'consent_required',
      request_id: res.headers['x-request-id'],
    });
    expect(t.upstreams.ai!.seen.length).toBe(before);
  });

  it('anything but "true" is no consent; the value is case-insensitive', async () => {
    const before = t.upstreams.ai!.seen.length;
    for (const value of ['false', '1', 'yes', 'on', '', 'true, true', 'truee'])
      expect((await breakdown({ 'x-offload-cloud-opt-in': value })).statusCode, value).toBe(403);
    expect(t.upstreams.ai!.seen.length).toBe(before);
    for (const value of ['true', ' true ', 'TRUE', 'True'])
      expect((await breakdown({ 'x-offload-cloud-opt-in': value })).statusCode, value).toBe(200);
    expect(t.upstreams.ai!.seen.length).toBe(before + 4);
    // The header reaches the ai service, which checks it again.
    expect(t.upstreams.ai!.seen.at(-1)!.headers['x-offload-cloud-opt-in']).toBe('True');
  });

  it('consent is asked of /v1/ai only', async () => {
    const res = await t.gateway.app.inject({ url: '/v1/tasks', headers: bearer(await t.signer.token()) });
    expect(res.statusCode).toBe(200);
  });

  it('a huge body without consent is never read: 403 comes before the body, the connection is closed', async () => {
    const before = t.upstreams.ai!.seen.length;
    const token = await t.signer.token();
    const declared = 50 * 1024 * 1024;
    // Headers announcing 50 MB and only the first 16 KB of it: a gateway that reads the body before
    // deciding would wait for the rest and never answer.
    const exchange = await rawExchange(t.gateway.url, [
      `POST /v1/ai/chat HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
      Buffer.alloc(16 * 1024, 'a'),
    ]);
    expect(exchange.status).toBe(403);
    expect(exchange.text).toContain('"consent_required"');
    expect(exchange.text.toLowerCase()).toContain('connection: close');
    expect(exchange.closedByServer).toBe(true);
    expect(t.upstreams.ai!.seen.length).toBe(before);
  });

  it('with consent, the token is still checked first', async () => {
    const res = await t.gateway.app.inject({
      method: 'POST',
      url: '/v1/ai/chat',
      headers: CONSENT,
      payload: {},
    });
    expect(res.statusCode).toBe(401);
  });
});
