import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, type NatsServerProcess } from '@offload/local-infra';
import { eventually } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

let nats: NatsServerProcess;
let system: RunningSystem;
let storeDir: string;

beforeAll(async () => {
  storeDir = mkdtempSync(join(tmpdir(), 'offload-nats-'));
  nats = await startNatsServer({ storeDir });
  system = await startSystem({ natsUrl: nats.url });
});

afterAll(async () => {
  await system?.stop();
  await nats?.stop();
  rmSync(storeDir, { recursive: true, force: true });
});

/** Activity rows per event id: the downstream effect of every `tasks.task.created`. */
async function activityCounts(userId: string): Promise<Map<string, number>> {
  const rows = await system.sql<{ entity_id: string; n: number }[]>`
    select entity_id, count(*)::int as n from tasks.activity where user_id = ${userId} group by entity_id`;
  return new Map(rows.map((r) => [r.entity_id, r.n]));
}

describe('NATS outage', () => {
  it('tasks created while NATS is down still reach the consumer exactly once after it returns', async () => {
    const session = await anonymousSession(system.gatewayUrl, `install-${randomUUID()}`);
    const create = async (title: string) => {
      const res = await call(system.gatewayUrl, 'POST', '/v1/tasks', {
        token: session.session_token,
        body: { title },
      });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    const before = await create('before the outage');
    await eventually(async () => (await activityCounts(session.user_id)).get(before) === 1);

    await nats.kill(); // abrupt, like a crash
    const during: string[] = [];
    for (let i = 0; i < 10; i++) during.push(await create(`during the outage ${i}`));
    // Nothing can have been published: the events wait in the outbox.
    const pending = await system.sql<{ n: number }[]>`
      select count(*)::int as n from tasks.outbox where published_at is null`;
    expect(pending[0]!.n).toBeGreaterThanOrEqual(10);

    await nats.restart();
    const after = await create('after the outage');

    const counts = await eventually(async () => {
      const c = await activityCounts(session.user_id);
      return c.size === 12 ? c : undefined;
    }, 30_000);
    for (const id of [before, ...during, after]) expect(counts.get(id)).toBe(1);
    // Give any late redelivery a chance to show up as a duplicate; none must.
    await new Promise((r) => setTimeout(r, 1_000));
    const final = await activityCounts(session.user_id);
    expect([...final.values()].every((n) => n === 1)).toBe(true);
    expect(final.size).toBe(12);
  });
});
