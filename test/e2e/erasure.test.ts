import { randomUUID } from 'node:crypto';
import { Erasure } from '@offload/contracts';
import { eventually, fakeReplies, startFakeGoogle, startFakeOpenAi, type FakeGoogle } from '@offload/testing';
import type { FakeOpenAi } from '@offload/testing';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

/**
 * Account erasure end to end (DESIGN 5, issue 3): `DELETE /v1/users/me` through the gateway answers
 * `completed` once identity, usage, tasks, ai, billing and voice confirmed their purge, and then no
 * table of any schema holds a row of the user. The documented exceptions: outbox rows (kept for
 * re-publication, pruned after 7 days; their `subject` is the user id) and identity's `session_cutoffs`
 * (refuses the user's still-unexpired access tokens; pruned once they expired).
 */

const CONSENT = { 'x-offload-cloud-opt-in': 'true' };
const SCHEMAS = ['identity', 'usage', 'tasks', 'ai', 'billing', 'voice'];
/** Tables allowed to keep the erased user's id (see above). */
const EXCEPTIONS = new Set([...SCHEMAS.map((s) => `${s}.outbox`), 'identity.session_cutoffs']);

let system: RunningSystem;
let openai: FakeOpenAi;
let google: FakeGoogle;
let url: string;

beforeAll(async () => {
  openai = await startFakeOpenAi();
  google = await startFakeGoogle();
  system = await startSystem({
    env: {
      OPENAI_API_KEY: 'sk-e2e',
      OPENAI_BASE_URL: openai.baseUrl,
      GOOGLE_JWKS_URL: google.jwksUrl,
      GOOGLE_CLIENT_IDS: google.clientId,
    },
  });
  url = system.gatewayUrl;
}, 60_000);

afterAll(async () => {
  await system?.stop();
  await openai?.close();
  await google?.close();
});

interface Person {
  installId: string;
  token: string;
  refreshToken: string;
  userId: string;
}

async function newPerson(): Promise<Person> {
  const installId = `install-${randomUUID()}`;
  const session = await anonymousSession(url, installId);
  return {
    installId,
    token: session.session_token,
    refreshToken: session.refresh_token,
    userId: session.user_id,
  };
}

/** Everything a user of both product plans leaves behind: tasks, credits, meters, an AI call. */
async function useTheApp(who: Person) {
  for (const title of ['Book the dentist', 'Renew the passport']) {
    const res = await call(url, 'POST', '/v1/tasks', { token: who.token, body: { title } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  await eventually(async () => {
    const res = await call(url, 'GET', '/v1/credits/balance', { token: who.token });
    return res.status === 200 && res.body.kickstart === 5;
  }, 10_000);
  const reconciled = await call(url, 'POST', '/v1/usage/reconcile', {
    token: who.token,
    body: { install_id: who.installId, feature: 'offline_breakdown', local_count: 4 },
  });
  expect(reconciled.status, JSON.stringify(reconciled.body)).toBe(200);
  openai.enqueue(fakeReplies.simpleSteps(2));
  const breakdown = await call(url, 'POST', '/v1/ai/breakdown/generate', {
    token: who.token,
    headers: CONSENT,
    body: { input_text: 'Move to a new flat', granularity: 2 },
  });
  expect(breakdown.status, JSON.stringify(breakdown.body)).toBe(200);
  // The activity log is written by a consumer: wait for it, so the erasure has it to delete.
  await eventually(async () => (await rowsOf(who.userId)).get('tasks.activity') === 2, 10_000);
}

interface UserColumn {
  schema: string;
  table: string;
  column: string;
}

/**
 * Every column that holds user ids, in every schema: columns named `user_id` or `subject`, plus
 * identity's tables keyed by user id (`users.id`).
 */
async function userColumns(): Promise<UserColumn[]> {
  const rows = await system.sql<{ table_schema: string; table_name: string; column_name: string }[]>`
    select c.table_schema, c.table_name, c.column_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.column_name in ('user_id', 'subject') and t.table_type = 'BASE TABLE'
      and c.table_schema not in ('pg_catalog', 'information_schema')
    order by 1, 2, 3`;
  return [
    ...rows.map((r) => ({ schema: r.table_schema, table: r.table_name, column: r.column_name })),
    { schema: 'identity', table: 'users', column: 'id' },
  ];
}

/** Rows of the user per `schema.table`, over every user-id column (outbox and exceptions included). */
async function rowsOf(userId: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { schema, table, column } of await userColumns()) {
    const [row] = await system.sql.unsafe<{ n: number }[]>(
      `select count(*)::int as n from "${schema}"."${table}" where "${column}"::text = $1`,
      [userId],
    );
    const key = `${schema}.${table}`;
    counts.set(key, (counts.get(key) ?? 0) + row!.n);
  }
  return counts;
}

/** Tables of every schema with a row whose JSON form mentions `userId` anywhere, outside the exceptions. */
async function tablesMentioning(userId: string): Promise<string[]> {
  const tables = await system.sql<{ table_schema: string; table_name: string }[]>`
    select table_schema, table_name from information_schema.tables
    where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`;
  const found: string[] = [];
  for (const { table_schema: schema, table_name: table } of tables) {
    if (EXCEPTIONS.has(`${schema}.${table}`)) continue;
    const [row] = await system.sql.unsafe<{ n: number }[]>(
      `select count(*)::int as n from "${schema}"."${table}" x where row_to_json(x)::text like $1`,
      [`%${userId}%`],
    );
    if (row!.n > 0) found.push(`${schema}.${table}`);
  }
  return found;
}

const deleteMe = (token: string) => call(url, 'DELETE', '/v1/users/me', { token });

describe('DELETE /v1/users/me end to end', () => {
  it('answers completed once every service confirmed, and no table holds a row of the user', async () => {
    const erased = await newPerson();
    const bystander = await newPerson();
    await useTheApp(erased);
    await useTheApp(bystander);

    const before = await rowsOf(erased.userId);
    for (const table of [
      'identity.users',
      'identity.devices',
      'identity.sessions',
      'tasks.tasks',
      'tasks.activity',
      'usage.credit_ledger',
      'usage.meters',
      'usage.reservations',
    ]) {
      expect(before.get(table), table).toBeGreaterThan(0);
    }
    const bystanderBefore = await rowsOf(bystander.userId);

    const res = await deleteMe(erased.token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const erasure = Erasure.parse(res.body);
    expect(erasure.status).toBe('completed');
    expect(erasure.completed_at).toMatch(/Z$/);
    expect(res.headers.get('location')).toBe(`/v1/users/erasures/${erasure.erasure_id}`);
    const erasedBy = Object.fromEntries(erasure.services.map((s) => [s.service, s]));
    expect(Object.keys(erasedBy)).toEqual(['identity', 'usage', 'tasks', 'ai', 'billing', 'voice']);
    expect(erasure.services.every((s) => s.status === 'purged')).toBe(true);
    expect(erasedBy.identity!.erased).toMatchObject({ users: 1, devices: 1, sessions: 1, refresh_tokens: 1 });
    expect(erasedBy.tasks!.erased).toEqual({ tasks: 2, activity: 2 });
    expect(erasedBy.usage!.erased).toEqual({
      credit_ledger: before.get('usage.credit_ledger'),
      meters: 2,
      reservations: 1,
      quota_exhaustions: 0,
    });
    for (const service of ['ai', 'billing', 'voice']) expect(erasedBy[service]!.erased).toEqual({});

    // Every user-id column of every schema: nothing left but the documented exceptions.
    const after = await rowsOf(erased.userId);
    const left = [...after].filter(([table, n]) => n > 0 && !EXCEPTIONS.has(table));
    expect(left).toEqual([]);
    // The enumeration did reach every service's tables (it is not vacuous) ...
    for (const table of before.keys()) expect(after.has(table)).toBe(true);
    expect([...after.keys()]).toEqual(
      expect.arrayContaining(['tasks.activity', 'usage.quota_exhaustions', 'identity.google_identities']),
    );
    // ... and the exceptions are what the documentation says they are: the revocation cutoff, and
    // outbox rows (whose `subject`, inside the payload, is the user id), e.g. the purge confirmations.
    expect(after.get('identity.session_cutoffs')).toBe(1);
    for (const schema of SCHEMAS) {
      const [row] = await system.sql.unsafe<{ n: number }[]>(
        `select count(*)::int as n from "${schema}".outbox where payload->>'subject' = $1 and type = $2`,
        [erased.userId, `${schema}.user.purged`],
      );
      expect(row!.n, schema).toBe(1);
    }
    // No other table mentions the user id anywhere in a row either.
    expect(await tablesMentioning(erased.userId)).toEqual([]);
    // Nobody else lost anything.
    expect(await rowsOf(bystander.userId)).toEqual(bystanderBefore);

    // The old tokens: the gateway and the services answer 401 (within the revocation's 5 s).
    for (const [base, path] of [
      [url, '/v1/tasks'],
      [url, '/v1/credits/balance'],
      [url, '/v1/users/me'],
      [system.urls.tasks, '/v1/tasks'],
      [system.urls.usage, '/v1/usage'],
      [system.urls.identity, '/v1/users/me'],
    ] as const) {
      const refused = await eventually(async () => {
        const r = await call(base, 'GET', path, { token: erased.token });
        return r.status === 401 ? r : undefined;
      }, 5_000);
      expect(refused.body.error.code, `${base}${path}`).toBe('invalid_token');
    }
    const refreshed = await call(url, 'POST', '/v1/auth/refresh', {
      body: { refresh_token: erased.refreshToken },
    });
    expect(refreshed.status).toBe(401);
    expect(refreshed.body.error.code).toBe('invalid_refresh_token');
    expect((await deleteMe(erased.token)).status).toBe(401);
    // The bystander's token still works.
    expect((await call(url, 'GET', '/v1/tasks', { token: bystander.token })).status).toBe(200);

    // The erasure's status, addressed by its unguessable id, needs no token (identity serves it; the
    // gateway still asks a bearer token for every `/v1/users` path, so it is read from identity here).
    const status = await call(system.urls.identity, 'GET', `/v1/users/erasures/${erasure.erasure_id}`);
    expect(status.status).toBe(200);
    expect(status.body).toEqual(erasure);
  });

  it('a Google sign-in without linking carries no device: reconcile answers 403 install_id_mismatch', async () => {
    const signIn = await call(url, 'POST', '/v1/auth/google', { body: { id_token: await google.idToken() } });
    expect(signIn.status, JSON.stringify(signIn.body)).toBe(200);
    const token = signIn.body.session_token as string;
    const claims = decodeJwt(token);
    expect(claims.anon).toBe(false);
    expect(claims).not.toHaveProperty('did');

    const reconciled = await call(url, 'POST', '/v1/usage/reconcile', {
      token,
      body: { install_id: `install-${randomUUID()}`, feature: 'offline_breakdown', local_count: 1 },
    });
    expect(reconciled.status).toBe(403);
    expect(reconciled.body.error).toMatchObject({
      code: 'install_id_mismatch',
      message: expect.any(String),
      request_id: reconciled.headers.get('x-request-id'),
    });
    expect(JSON.stringify(reconciled.body)).not.toContain('install-');
    // The token is otherwise good, and the account erases like any other.
    expect((await call(url, 'GET', '/v1/usage', { token })).status).toBe(200);
    const res = await deleteMe(token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const erasure = Erasure.parse(res.body);
    expect(erasure.status).toBe('completed');
    expect(erasure.services.find((s) => s.service === 'identity')!.erased).toMatchObject({
      users: 1,
      google_identities: 1,
    });
    const userId = claims.sub!;
    expect([...(await rowsOf(userId))].filter(([t, n]) => n > 0 && !EXCEPTIONS.has(t))).toEqual([]);
    expect(await tablesMentioning(userId)).toEqual([]);
  });
});
