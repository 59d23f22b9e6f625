import { buildTestApp, type ServiceModule, type TestApp } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVoiceApp } from '../src/app.js';
import { loadVoiceConfig, type VoiceConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createVoiceRuntime, type VoiceRuntime } from '../src/deps.js';

const voiceService: ServiceModule<VoiceConfig, VoiceRuntime> = {
  name: 'voice',
  migrate,
  loadConfig: loadVoiceConfig,
  createRuntime: createVoiceRuntime,
  buildApp: buildVoiceApp,
};

let t: TestApp<VoiceRuntime>;

beforeAll(async () => {
  t = await buildTestApp(voiceService);
});

afterAll(async () => {
  await t?.close();
});

describe('voice stream before the voice issue lands', () => {
  it('answers a WebSocket upgrade 503 not_available_yet in the envelope', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/voice/stream',
      headers: {
        ...(await t.auth()),
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'x-request-id': 'req-voice-001',
      },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['x-request-id']).toBe('req-voice-001');
    expect(res.json()).toEqual({
      error: { code: 'not_available_yet', message: expect.any(String), request_id: 'req-voice-001' },
    });
  });

  it('verifies the bearer token first: 401 without one', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/voice/stream' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatchObject({ code: 'unauthorized', request_id: expect.any(String) });
  });

  it('owns only its path: anything else under /v1/voice is 404', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/voice/other', headers: await t.auth() });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });

  it('is live and ready with Postgres and NATS', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', service: 'voice', checks: { postgres: 'ok', nats: 'ok' } });
  });
});
