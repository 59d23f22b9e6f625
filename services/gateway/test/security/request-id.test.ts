import { createTestSigner } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
  startGateway,
  startUpstreams,
  upstreamEnv,
  type TestGateway,
  type Upstream,
} from '../support.js';

// X-Request-Id (DESIGN 4): echoed when sane, replaced otherwise; a client cannot inject header lines or
// flood every log line and every service with its own text.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let upstreams: Record<string, Upstream>;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
let gateway: TestGateway;

beforeAll(async () => {
  signer = await createTestSigner();
  upstreams = await startUpstreams();
  gateway = await startGateway({ ...upstreamEnv(upstreams) }, { jwks: signer.jwks });
});

afterAll(async () => {
  await gateway?.close();
  for (const upstream of Object.values(upstreams ?? {})) await upstream.close();
});

async function sendWithId(id: string | undefined) {
  const res = await gateway.app.inject({
    method: 'GET',
    url: '/v1/tasks',
    headers: { ...bearer(await signer.token()), ...(id === undefined ? {} : { 'x-request-id': id }) },
  });
  expect(res.statusCode).toBe(200);
  return { res, forwarded: upstreams.tasks!.seen.at(-1)!.headers['x-request-id'] };
}

/** The id was replaced by a generated one: not echoed, not forwarded, not logged (`marker` is a telling part of it). */
async function expectReplaced(injected: string, marker = injected) {
  const { res, forwarded } = await sendWithId(injected);
  const id = res.headers['x-request-id'];
  expect(id).toMatch(UUID);
  expect(forwarded).toBe(id);
  expect(JSON.stringify(res.headers)).not.toContain(marker);
  expect(JSON.stringify(upstreams.tasks!.seen.at(-1)!.headers)).not.toContain(marker);
  expect(gateway.logs.text()).not.toContain(marker);
}

describe('request id injection', () => {
  it('a request id with a newline is replaced, not echoed', async () => {
    await expectReplaced('abc\ndef-ghi-jkl', 'def-ghi-jkl');
    await expectReplaced('abc\r\nset-cookie: a=b', 'set-cookie');
  });

  it('a request id of 10 kB is replaced, not echoed', async () => {
    await expectReplaced('a'.repeat(10 * 1024), 'a'.repeat(200));
  });

  it('a request id of 129 characters or with other characters is replaced; 128 plain ones are echoed', async () => {
    await expectReplaced('b'.repeat(129));
    await expectReplaced('id with spaces and <html>');
    const atLimit = 'c'.repeat(128);
    const { res, forwarded } = await sendWithId(atLimit);
    expect(res.headers['x-request-id']).toBe(atLimit);
    expect(forwarded).toBe(atLimit);
  });

  it('a sane request id is echoed and forwarded; none sent, one is generated', async () => {
    const { res, forwarded } = await sendWithId('client-req-0001');
    expect(res.headers['x-request-id']).toBe('client-req-0001');
    expect(forwarded).toBe('client-req-0001');
    const generated = await sendWithId(undefined);
    expect(generated.res.headers['x-request-id']).toMatch(UUID);
    expect(generated.forwarded).toBe(generated.res.headers['x-request-id']);
  });
});
