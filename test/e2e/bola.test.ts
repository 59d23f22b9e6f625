import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

let system: RunningSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

describe('broken object level authorization (BOLA)', () => {
  it("user B gets 404 on every protected route that takes an id, with user A's ids", async () => {
    const a = await anonymousSession(system.gatewayUrl, `install-${randomUUID()}`);
    const b = await anonymousSession(system.gatewayUrl, `install-${randomUUID()}`);
    const task = await call(system.gatewayUrl, 'POST', '/v1/tasks', {
      token: a.session_token,
      body: { title: 'only for A' },
    });
    expect(task.status).toBe(201);
    const ids = [task.body.id as string, a.user_id];

    // Every operation of the merged OpenAPI document that takes a path id and needs a token.
    const document = await call(system.gatewayUrl, 'GET', '/openapi.json');
    expect(document.status).toBe(200);
    const operations: Array<{ method: string; path: string }> = [];
    for (const [path, item] of Object.entries(document.body.paths as Record<string, Record<string, any>>)) {
      if (!/\{[^}]+\}/.test(path)) continue;
      for (const [method, operation] of Object.entries(item)) {
        if (!['get', 'put', 'patch', 'delete', 'post'].includes(method)) continue;
        if (!operation.security?.some((s: Record<string, unknown>) => 'bearerAuth' in s)) continue;
        operations.push({ method: method.toUpperCase(), path });
      }
    }
    expect(operations.map((o) => `${o.method} ${o.path}`)).toContain('GET /v1/tasks/{id}');

    for (const { method, path } of operations) {
      for (const id of ids) {
        const url = path.replace(/\{[^}]+\}/g, id);
        const body = ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined;
        const res = await call(system.gatewayUrl, method, url, { token: b.session_token, body });
        // Never the resource, never 403 (existence must not leak): 404, or 422 for a body B could not send.
        expect([404, 422], `${method} ${url} -> ${res.status}`).toContain(res.status);
        if (res.status === 404) expect(res.body.error.code).toBe('not_found');
      }
    }
    // A still sees its task.
    const own = await call(system.gatewayUrl, 'GET', `/v1/tasks/${task.body.id}`, { token: a.session_token });
    expect(own.status).toBe(200);
    // B's lists never show A's rows.
    const list = await call(system.gatewayUrl, 'GET', '/v1/tasks', { token: b.session_token });
    expect(list.body.data).toEqual([]);
  });
});
