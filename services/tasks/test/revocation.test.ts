import { newId } from '@offload/contracts';
import { buildTestApp, eventually, publishRevocation, type TestApp } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TasksRuntime } from '../src/deps.js';
import { tasksService } from './tasks-service.js';

/**
 * DESIGN 5: services reject access tokens of revoked sessions within 5 seconds of the revocation, with no
 * database call per request: the verifier consults the revocation list that `identity.session.revoked`
 * feeds (published here on the test's own NATS prefix, as identity publishes it).
 */

let t: TestApp<TasksRuntime>;

beforeAll(async () => {
  t = await buildTestApp(tasksService);
});

afterAll(async () => {
  await t?.close();
});

const listTasks = (authorization: string) =>
  t.app.inject({ method: 'GET', url: '/v1/tasks', headers: { authorization } });

const revoke = (input: Parameters<typeof publishRevocation>[1]) => publishRevocation(t.runtime.bus, input);

/** Polls until the token is refused; returns how long that took after the revocation. */
async function refusedWithin(authorization: string, since: number) {
  const res = await eventually(async () => {
    const r = await listTasks(authorization);
    return r.statusCode === 401 ? r : undefined;
  }, 5_000);
  expect(res.json().error).toMatchObject({ code: 'invalid_token', request_id: expect.any(String) });
  return Date.now() - since;
}

describe('revoked sessions in the tasks service', () => {
  it('rejects a token of a revoked session within 5 s; the same user’s other session keeps working', async () => {
    const userId = newId();
    const revokedSession = newId();
    const { authorization } = await t.auth({ sub: userId, sid: revokedSession });
    const other = await t.auth({ sub: userId, sid: newId() });
    // Verified and cached before the revocation: the cache must not outlive it.
    expect((await listTasks(authorization)).statusCode).toBe(200);
    expect((await listTasks(other.authorization)).statusCode).toBe(200);

    const revokedAt = Date.now();
    await revoke({ userId, sessionIds: [revokedSession] });
    expect(await refusedWithin(authorization, revokedAt)).toBeLessThan(5_000);

    expect((await listTasks(other.authorization)).statusCode).toBe(200);
    // A fresh token of the revoked session (never cached) is refused too.
    expect(
      (await listTasks((await t.auth({ sub: userId, sid: revokedSession })).authorization)).statusCode,
    ).toBe(401);
  });

  it('logout-all (and erasure) refuses every token of the user issued up to the revocation', async () => {
    const userId = newId();
    const sessions = [await t.auth({ sub: userId }), await t.auth({ sub: userId })];
    const bystander = await t.auth();
    for (const s of [...sessions, bystander]) expect((await listTasks(s.authorization)).statusCode).toBe(200);

    const revokedAt = Date.now();
    await revoke({ userId, all: true, reason: 'user_deleted' });
    for (const s of sessions) expect(await refusedWithin(s.authorization, revokedAt)).toBeLessThan(5_000);
    expect((await listTasks(bystander.authorization)).statusCode).toBe(200);

    // A token issued in a later second (a new sign-in after logout-all) is accepted.
    await new Promise((r) => setTimeout(r, 1_050 - (Date.now() % 1_000)));
    expect((await listTasks((await t.auth({ sub: userId })).authorization)).statusCode).toBe(200);
  });

  it('ignores a malformed revocation message and keeps serving', async () => {
    const { authorization } = await t.auth();
    t.runtime.bus.nc.publish(t.runtime.bus.subject('identity.session.revoked'), '{"not":"an event"}');
    await t.runtime.bus.nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect((await listTasks(authorization)).statusCode).toBe(200);
    expect(t.logs.text()).toContain('ignored an invalid identity.session.revoked message');
  });
});
