import { buildTestApp, type TestApp } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TasksRuntime } from '../src/deps.js';
import { tasksService } from './tasks-service.js';

let t: TestApp<TasksRuntime>;

beforeAll(async () => {
  t = await buildTestApp(tasksService);
});

afterAll(async () => {
  await t?.close();
});

describe('tasks API', () => {
  it('creates, lists newest first with a cursor, and gets a task', async () => {
    const headers = await t.auth();
    for (const title of ['first', 'second', 'third']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers,
        payload: { title, priority: 'high' },
      });
      expect(res.statusCode).toBe(201);
    }
    const page1 = await t.app.inject({ method: 'GET', url: '/v1/tasks?limit=2', headers });
    expect(page1.statusCode).toBe(200);
    const body1 = page1.json();
    expect(body1.data.map((t: { title: string }) => t.title)).toEqual(['third', 'second']);
    expect(body1.next_cursor).toEqual(expect.any(String));
    const page2 = await t.app.inject({
      method: 'GET',
      url: `/v1/tasks?limit=2&cursor=${body1.next_cursor}`,
      headers,
    });
    expect(page2.json().data.map((t: { title: string }) => t.title)).toEqual(['first']);
    expect(page2.json().next_cursor).toBeNull();

    const one = await t.app.inject({
      method: 'GET',
      url: `/v1/tasks/${body1.data[0].id}`,
      headers,
    });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ title: 'third', priority: 'high', completed: false, version: 1 });
  });

  it('hides another user’s task behind 404', async () => {
    const a = await t.auth();
    const b = await t.auth();
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: a,
      payload: { title: 'private' },
    });
    const res = await t.app.inject({ method: 'GET', url: `/v1/tasks/${created.json().id}`, headers: b });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });

  it('rejects a title of 201 characters and accepts 200, with details', async () => {
    const headers = await t.auth();
    const ok = await t.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers,
      payload: { title: 'x'.repeat(200) },
    });
    expect(ok.statusCode).toBe(201);
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers,
      payload: { title: 'x'.repeat(201), extra: 1 },
    });
    expect(bad.statusCode).toBe(422);
    const body = bad.json();
    expect(body.error.code).toBe('validation_error');
    expect(body.error.request_id).toEqual(expect.any(String));
    expect(body.error.details.map((d: { field: string }) => d.field)).toEqual(
      expect.arrayContaining(['body.title', 'body.extra']),
    );
  });

  it('answers 401 without a token and 404 envelope for unknown routes', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/tasks' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
    const missing = await t.app.inject({ method: 'GET', url: '/v1/nothing-here' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
  });
});
