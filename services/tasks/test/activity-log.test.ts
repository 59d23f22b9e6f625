import { newId } from '@offload/contracts';
import { buildTestApp, eventually, type TestApp } from '@offload/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activity } from '../src/db/schema.js';
import type { TasksRuntime } from '../src/deps.js';
import { ACTIVITY_CONSUMER } from '../src/events/consumers/task-created.js';
import { recordActivity } from '../src/use-cases/record-activity.js';
import { tasksService } from './tasks-service.js';

let t: TestApp<TasksRuntime>;

beforeAll(async () => {
  t = await buildTestApp(tasksService);
});

afterAll(async () => {
  await t?.close();
});

const activityOf = (userId: string) =>
  t.runtime.database.db.select().from(activity).where(eq(activity.userId, userId));

describe('activity log consumer', () => {
  it('records one activity row per created task, through the outbox and JetStream', async () => {
    const userId = newId();
    const headers = await t.auth({ sub: userId });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers,
        payload: { title: `task ${i}` },
      });
      ids.push(res.json().id);
    }
    const rows = await eventually(async () => {
      const found = await t.runtime.database.db.select().from(activity).where(eq(activity.userId, userId));
      return found.length === 5 ? found : undefined;
    });
    expect(new Set(rows.map((r) => r.entityId))).toEqual(new Set(ids));
    expect(rows.every((r) => r.type === 'tasks.task.created' && r.source === 'user')).toBe(true);
  });

  it('ignores a redelivered event (inbox)', async () => {
    const userId = newId();
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: await t.auth({ sub: userId }),
      payload: { title: 'logged once' },
    });
    // The consumer logs the real event; a redelivery under another event id is what is tested here.
    await eventually(async () => (await activityOf(userId)).length === 1);
    const entry = {
      consumer: ACTIVITY_CONSUMER,
      eventId: newId(),
      userId,
      type: 'tasks.task.created',
      entityId: created.json().id,
      source: 'user',
      occurredAt: new Date(),
    };
    expect(await recordActivity(t.runtime, entry)).toBe('recorded');
    expect(await recordActivity(t.runtime, entry)).toBe('duplicate_event');
    expect(await activityOf(userId)).toHaveLength(2);
  });

  it('writes nothing for a task that no longer exists (its user was erased), and claims the event', async () => {
    const entry = {
      consumer: ACTIVITY_CONSUMER,
      eventId: newId(),
      userId: newId(),
      type: 'tasks.task.created',
      entityId: newId(),
      source: 'user',
      occurredAt: new Date(),
    };
    expect(await recordActivity(t.runtime, entry)).toBe('task_gone');
    expect(await activityOf(entry.userId)).toHaveLength(0);
    expect(await recordActivity(t.runtime, entry)).toBe('duplicate_event');
  });

  it('does not log a task of another user under this user', async () => {
    const owner = newId();
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: await t.auth({ sub: owner }),
      payload: { title: 'owned' },
    });
    const entry = {
      consumer: ACTIVITY_CONSUMER,
      eventId: newId(),
      userId: newId(),
      type: 'tasks.task.created',
      entityId: created.json().id,
      source: 'user',
      occurredAt: new Date(),
    };
    expect(await recordActivity(t.runtime, entry)).toBe('task_gone');
    expect(await activityOf(entry.userId)).toHaveLength(0);
  });
});
