import { randomUUID } from 'node:crypto';
import { eventually, LogCapture } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

const logs = new LogCapture();
let system: RunningSystem;

beforeAll(async () => {
  system = await startSystem({ logs, logLevel: 'trace' });
});

afterAll(async () => {
  await system?.stop();
});

describe('logs hold no user content', () => {
  it('no token, task title, description or install id appears in any log line of any service', async () => {
    const installId = `install-canary-${randomUUID()}`;
    const title = `CANARY-TITLE-${randomUUID()}`;
    const description = `CANARY-DESCRIPTION-${randomUUID()}`;
    const session = await anonymousSession(system.gatewayUrl, installId);
    const created = await call(system.gatewayUrl, 'POST', '/v1/tasks', {
      token: session.session_token,
      body: { title, description },
    });
    expect(created.status).toBe(201);
    await call(system.gatewayUrl, 'GET', `/v1/tasks/${created.body.id}`, { token: session.session_token });
    // A failing request too: validation errors must not echo the input into logs.
    await call(system.gatewayUrl, 'POST', '/v1/tasks', {
      token: session.session_token,
      body: { title: `${title}${'x'.repeat(300)}` },
    });
    await call(system.gatewayUrl, 'GET', '/v1/tasks', { token: `${session.session_token}x` });
    await eventually(async () => {
      const rows = await system.sql<
        { n: number }[]
      >`select count(*)::int as n from tasks.activity where entity_id = ${created.body.id}`;
      return rows[0]!.n === 1;
    });

    const text = logs.text();
    expect(logs.lines.length).toBeGreaterThan(10);
    // Every service really logged (the capture is wired to all of them).
    for (const service of ['gateway', 'identity', 'tasks', 'usage'])
      expect(text).toContain(`"service":"${service}"`);
    for (const secret of [session.session_token, session.refresh_token, title, description, installId]) {
      expect(text).not.toContain(secret);
    }
    // Token fragments (the signature) never appear either.
    expect(text).not.toContain(session.session_token.split('.')[2]!);
  });
});
