import { newId, TasksUserPurged } from '@offload/contracts';
import {
  buildTestApp,
  eventually,
  startErasureProbe,
  userTablesOf,
  type ErasureProbe,
  type TestApp,
} from '@offload/testing';
import { purgeUserData } from '@offload/platform/erasure';
import { and, eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activity, inbox, outbox, tasks } from '../src/db/schema.js';
import { createUserDataRepository } from '../src/db/user-data-repository.js';
import type { TasksRuntime } from '../src/deps.js';
import { recordActivity } from '../src/use-cases/record-activity.js';
import { ACTIVITY_CONSUMER } from '../src/events/consumers/task-created.js';
import { tasksService } from './tasks-service.js';

/**
 * Account erasure in the tasks service (DESIGN 5): `identity.user.deleted` in, every row of the user
 * gone, `tasks.user.purged` out; redeliveries change nothing.
 */

let t: TestApp<TasksRuntime>;
let probe: ErasureProbe;

beforeAll(async () => {
  t = await buildTestApp(tasksService);
  probe = await startErasureProbe(t.runtime.bus, 'tasks');
});

afterAll(async () => {
  await probe?.stop();
  await t?.close();
});

const PURGE_CONSUMER = 'tasks__user_purge';
const db = () => t.runtime.database.db;
/** The service's erasure as its runtime wires it, for calling the purge directly. */
const erasure = () => ({
  service: 'tasks' as const,
  database: t.runtime.database,
  inbox,
  outbox,
  purge: t.runtime.userDataRepository.purge,
});
const tasksOf = (userId: string) => db().select().from(tasks).where(eq(tasks.userId, userId));
const activityOf = (userId: string) => db().select().from(activity).where(eq(activity.userId, userId));
const confirmationsInOutbox = async (userId: string) =>
  (await db().select().from(outbox).where(eq(outbox.type, 'tasks.user.purged')))
    .map((row) => TasksUserPurged.parse(row.payload))
    .filter((event) => event.subject === userId);

/** A user with `count` tasks, each already in the activity log. */
async function userWithTasks(count: number) {
  const userId = newId();
  const headers = await t.auth({ sub: userId });
  for (let i = 0; i < count; i++) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers,
      payload: { title: `t${i}` },
    });
    expect(res.statusCode).toBe(201);
  }
  await eventually(async () => (await activityOf(userId)).length === count);
  return { userId, headers };
}

describe('tasks__user_purge', () => {
  it('deletes every task and activity row of the user and confirms with tasks.user.purged', async () => {
    const erased = await userWithTasks(3);
    const bystander = await userWithTasks(2);

    const request = await probe.requestErasure(erased.userId);
    const confirmation = await probe.confirmation(request.data.erasure_id);

    expect(confirmation).toMatchObject({
      type: 'tasks.user.purged',
      source: 'tasks',
      subject: erased.userId,
      data: {
        user_id: erased.userId,
        erasure_id: request.data.erasure_id,
        service: 'tasks',
        purged_at: expect.stringMatching(/Z$/),
        erased: { tasks: 3, activity: 3 },
      },
    });
    expect(await tasksOf(erased.userId)).toHaveLength(0);
    expect(await activityOf(erased.userId)).toHaveLength(0);
    const list = await t.app.inject({ method: 'GET', url: '/v1/tasks', headers: erased.headers });
    expect(list.json().data).toEqual([]);

    // Nobody else's data is touched.
    expect(await tasksOf(bystander.userId)).toHaveLength(2);
    expect(await activityOf(bystander.userId)).toHaveLength(2);

    // The inbox holds the event id under the consumer's name, nothing about the user.
    const claimed = await db()
      .select()
      .from(inbox)
      .where(and(eq(inbox.consumer, PURGE_CONSUMER), eq(inbox.eventId, request.id)));
    expect(claimed).toHaveLength(1);
  });

  it('a redelivered event changes nothing; another event for the user deletes nothing and confirms again', async () => {
    const { userId } = await userWithTasks(1);
    const first = await probe.requestErasure(userId);
    await probe.confirmation(first.data.erasure_id);

    // The same event again (a redelivery after JetStream's duplicate window): claimed already.
    const again = await purgeUserData(erasure(), {
      consumer: PURGE_CONSUMER,
      eventId: first.id,
      userId,
      erasureId: first.data.erasure_id,
    });
    expect(again).toEqual({ outcome: 'duplicate_event' });
    expect(await confirmationsInOutbox(userId)).toHaveLength(1);

    // A second erasure event for the same user: nothing left to delete, confirmed with zero counts.
    const second = await probe.requestErasure(userId);
    const confirmation = await probe.confirmation(second.data.erasure_id);
    expect(confirmation.data.erased).toEqual({ tasks: 0, activity: 0 });
    expect(await confirmationsInOutbox(userId)).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(probe.confirmations(first.data.erasure_id)).toHaveLength(1);
  });

  it('an activity event that arrives after the purge writes nothing', async () => {
    const userId = newId();
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: await t.auth({ sub: userId }),
      payload: { title: 'late' },
    });
    const request = await probe.requestErasure(userId);
    await probe.confirmation(request.data.erasure_id);
    // However the real event raced the purge, a (re)delivery now finds the task gone.
    const outcome = await recordActivity(t.runtime, {
      consumer: ACTIVITY_CONSUMER,
      eventId: newId(),
      userId,
      type: 'tasks.task.created',
      entityId: created.json().id,
      source: 'user',
      occurredAt: new Date(),
    });
    expect(outcome).toBe('task_gone');
    await new Promise((r) => setTimeout(r, 300));
    expect(await activityOf(userId)).toHaveLength(0);
    expect(await tasksOf(userId)).toHaveLength(0);
  });

  it('retries a purge the database refused, and confirms once it can (no dead letter)', async () => {
    const { userId } = await userWithTasks(1);
    // DDL as the admin: the service's own role may not (ADR 0001).
    const sql = postgres(t.infra.databaseUrl, { max: 1, onnotice: () => {} });
    await sql`alter table tasks.activity rename to activity_away`;
    const request = await probe.requestErasure(userId);
    try {
      const failed = await eventually(
        async () =>
          t.logs.parsed().find((l) => l.msg === 'handler failed, will retry' && l.durable === PURGE_CONSUMER),
        5_000,
      );
      expect(failed).toMatchObject({ delivery: 1 });
      expect(probe.confirmations(request.data.erasure_id)).toHaveLength(0);
    } finally {
      await sql`alter table tasks.activity_away rename to activity`;
      await sql.end();
    }
    const confirmation = await probe.confirmation(request.data.erasure_id, 15_000);
    expect(confirmation.data.erased).toEqual({ tasks: 1, activity: 1 });
    expect(await tasksOf(userId)).toHaveLength(0);
    const info = await t.runtime.bus.jsm.consumers.info(t.runtime.bus.stream('IDENTITY'), PURGE_CONSUMER);
    expect(info.config.max_deliver).toBe(50);
  });

  it('purges every table of the tasks schema that holds user ids', async () => {
    const counted = await db().transaction((tx) => createUserDataRepository().purge(tx, newId()));
    expect(Object.keys(counted).sort()).toEqual(await userTablesOf(t.runtime.database.sql, 'tasks'));
  });
});
