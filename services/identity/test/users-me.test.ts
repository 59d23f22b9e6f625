import { Erasure, newId, type EventOf, type TokenBundle } from '@offload/contracts';
import { createRevocationList, createTokenVerifier, natsJwksSource } from '@offload/platform/auth';
import { createLogger } from '@offload/platform/logger';
import { publishEvent, startConsumer, type Bus, type RunningConsumer } from '@offload/platform/nats';
import { eventually, startFakeGoogle, type FakeGoogle } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  anonymousSession,
  bearer,
  connectTestBus,
  count,
  getMe,
  newInstallId,
  outboxEvents,
  refresh,
  sha256,
  startIdentity,
  type IdentityUnderTest,
} from './support.js';

let identity: IdentityUnderTest;
let google: FakeGoogle;
let bus: Bus;
let purger: RunningConsumer;
/** Erasures the fake `tasks` service does not confirm until the test releases them. */
const heldBack = new Set<string>();
const deletedEvents: EventOf<'identity.user.deleted'>[] = [];

/** What usage and tasks will do: purge on identity.user.deleted, confirm with <service>.user.purged. */
async function confirm(service: 'usage' | 'tasks', deleted: EventOf<'identity.user.deleted'>) {
  const type = service === 'usage' ? 'usage.user.purged' : 'tasks.user.purged';
  await publishEvent(bus, {
    id: newId(),
    type,
    source: service,
    time: new Date().toISOString(),
    subject: deleted.data.user_id,
    data: {
      user_id: deleted.data.user_id,
      erasure_id: deleted.data.erasure_id,
      service,
      purged_at: new Date().toISOString(),
      erased: service === 'usage' ? { credit_ledger: 1, meters: 0 } : { tasks: 3, notes: 1 },
    },
  });
}

beforeAll(async () => {
  google = await startFakeGoogle();
  identity = await startIdentity({
    env: {
      SESSION_RATE_LIMIT_PER_IP: '100000',
      ERASURE_SERVICES: 'identity,usage,tasks',
      ERASURE_WAIT_SECONDS: '5',
      GOOGLE_JWKS_URL: google.jwksUrl,
      GOOGLE_CLIENT_IDS: google.clientId,
    },
  });
  bus = await connectTestBus(identity.infra);
  purger = await startConsumer(bus, {
    stream: 'IDENTITY',
    durable: 'fake_services__user_purge',
    types: ['identity.user.deleted'],
    logger: createLogger({ service: 'fake-services', level: 'silent' }),
    handler: async (event) => {
      deletedEvents.push(event);
      await confirm('usage', event);
      if (!heldBack.has(event.data.user_id)) await confirm('tasks', event);
    },
  });
});

afterAll(async () => {
  await purger?.stop();
  await bus?.close();
  await identity?.close();
  await google?.close();
});

const patchMe = (token: string, payload: Record<string, unknown>) =>
  identity.app.inject({ method: 'PATCH', url: '/v1/users/me', headers: bearer(token), payload });
const deleteMe = (token: string) =>
  identity.app.inject({ method: 'DELETE', url: '/v1/users/me', headers: bearer(token) });

async function newUser(): Promise<TokenBundle> {
  return (await anonymousSession(identity.app)).bundle!;
}

describe('PATCH /v1/users/me', () => {
  it.each([
    [0, 422],
    [1, 200],
    [100, 200],
    [101, 422],
  ])('a name of %i characters answers %i', async (length, status) => {
    const user = await newUser();
    const res = await patchMe(user.session_token, { name: 'n'.repeat(length) });
    expect(res.statusCode).toBe(status);
    if (status === 200) expect(res.json()).toMatchObject({ name: 'n'.repeat(length), version: 2 });
    else expect(res.json().error.details).toEqual([{ field: 'body.name', message: expect.any(String) }]);
  });

  it('counts the name after trimming, and refuses blank names and control characters', async () => {
    const user = await newUser();
    expect((await patchMe(user.session_token, { name: `  ${'n'.repeat(100)}  ` })).json().name).toBe(
      'n'.repeat(100),
    );
    expect((await patchMe(user.session_token, { name: '   ' })).statusCode).toBe(422);
    expect((await patchMe(user.session_token, { name: 'Ada\nLovelace' })).statusCode).toBe(422);
  });

  it('refuses a time zone that is not a valid IANA name', async () => {
    const user = await newUser();
    for (const timezone of ['Mars/Olympus_Mons', '+01:00', 'GMT+1', 'Europe/Berlin ', '', 'x'.repeat(65)]) {
      const res = await patchMe(user.session_token, { timezone });
      expect(res.statusCode, timezone).toBe(422);
      expect(res.json().error.details[0].field).toBe('body.timezone');
    }
    for (const timezone of ['America/Argentina/Buenos_Aires', 'Asia/Kolkata', 'UTC', 'Etc/GMT+5']) {
      const ok = await patchMe(user.session_token, { timezone });
      expect(ok.statusCode, timezone).toBe(200);
      expect(ok.json().timezone).toBe(timezone);
    }
  });

  it('PATCH semantics: omitted fields stay, null clears; versions count changes; events name fields only', async () => {
    const user = await newUser();
    const both = await patchMe(user.session_token, { name: 'Ada', timezone: 'Europe/Berlin' });
    expect(both.json()).toMatchObject({ name: 'Ada', timezone: 'Europe/Berlin', version: 2 });
    const onlyTz = await patchMe(user.session_token, { timezone: 'UTC' });
    expect(onlyTz.json()).toMatchObject({ name: 'Ada', timezone: 'UTC', version: 3 });
    const cleared = await patchMe(user.session_token, { name: null });
    expect(cleared.json()).toMatchObject({ name: null, timezone: 'UTC', version: 4 });
    const nothing = await patchMe(user.session_token, {});
    expect(nothing.json()).toMatchObject({ name: null, timezone: 'UTC', version: 4 });
    expect((await getMe(identity.app, user.session_token)).json()).toMatchObject({ name: null, version: 4 });

    const events = await outboxEvents<{ data: Record<string, unknown> }>(
      identity.runtime,
      'identity.user.updated',
      user.user_id,
    );
    expect(events.map((e) => e.data)).toEqual([
      { user_id: user.user_id, changed: ['name', 'timezone'], version: 2 },
      { user_id: user.user_id, changed: ['timezone'], version: 3 },
      { user_id: user.user_id, changed: ['name'], version: 4 },
    ]);
    expect(JSON.stringify(events)).not.toContain('Ada');
  });

  it('refuses a stale version with 409 conflict and changes nothing', async () => {
    const user = await newUser();
    expect((await patchMe(user.session_token, { name: 'One', version: 1 })).statusCode).toBe(200);
    const stale = await patchMe(user.session_token, { name: 'Two', version: 1 });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.code).toBe('conflict');
    expect((await getMe(identity.app, user.session_token)).json()).toMatchObject({ name: 'One', version: 2 });
  });

  it('rejects unknown fields and answers 401 without a token', async () => {
    const user = await newUser();
    const res = await patchMe(user.session_token, { tier: 'pro' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.details).toEqual([{ field: 'body.tier', message: expect.any(String) }]);
    const anonymous = await identity.app.inject({
      method: 'PATCH',
      url: '/v1/users/me',
      payload: { name: 'x' },
    });
    expect(anonymous.statusCode).toBe(401);
  });
});

describe('DELETE /v1/users/me', () => {
  const identityRowsOf = (userId: string) =>
    count(
      identity.runtime,
      `select (select count(*) from identity.users where id = $1)
        + (select count(*) from identity.devices where user_id = $1)
        + (select count(*) from identity.sessions where user_id = $1)
        + (select count(*) from identity.refresh_tokens r join identity.sessions s on s.id = r.session_id
           where s.user_id = $1)
        + (select count(*) from identity.google_identities where user_id = $1) as n`,
      [userId],
    );

  it('DELETE erases the identity rows, publishes identity.user.deleted and completes when every service confirmed', async () => {
    const installId = newInstallId();
    const user = (await anonymousSession(identity.app, { installId })).bundle!;
    const second = (await anonymousSession(identity.app, { installId })).bundle!;
    await refresh(identity.app, second.refresh_token);
    const linked = await identity.app.inject({
      method: 'POST',
      url: '/v1/auth/google',
      payload: { id_token: await google.idToken() },
      headers: bearer(user.session_token),
    });
    expect(linked.statusCode).toBe(200);
    await patchMe(user.session_token, { name: 'To be forgotten' });
    expect(await identityRowsOf(user.user_id)).toBeGreaterThan(6);
    const gatewayList = await createRevocationList({ bus });
    const gateway = createTokenVerifier({ source: natsJwksSource(bus), revocations: gatewayList });
    await gateway.verify(user.session_token);

    const res = await deleteMe(user.session_token);
    expect(res.statusCode).toBe(200);
    const erasure = Erasure.parse(res.json());
    expect(res.headers.location).toBe(`/v1/users/erasures/${erasure.erasure_id}`);
    expect(erasure).toMatchObject({ status: 'completed', completed_at: expect.any(String) });
    expect(erasure.services).toEqual([
      {
        service: 'identity',
        status: 'purged',
        purged_at: expect.any(String),
        erased: { users: 1, devices: 1, sessions: 3, refresh_tokens: 4, google_identities: 1 },
      },
      {
        service: 'usage',
        status: 'purged',
        purged_at: expect.any(String),
        erased: { credit_ledger: 1, meters: 0 },
      },
      { service: 'tasks', status: 'purged', purged_at: expect.any(String), erased: { tasks: 3, notes: 1 } },
    ]);

    expect(await identityRowsOf(user.user_id)).toBe(0);
    const deleted = deletedEvents.find((e) => e.data.user_id === user.user_id)!;
    expect(deleted).toMatchObject({
      type: 'identity.user.deleted',
      source: 'identity',
      subject: user.user_id,
      data: { user_id: user.user_id, erasure_id: erasure.erasure_id, requested_at: erasure.requested_at },
    });
    expect(await outboxEvents(identity.runtime, 'identity.user.purged', user.user_id)).toHaveLength(1);

    // Old tokens no longer work: access (identity and the gateway-side verifier) and refresh.
    expect((await getMe(identity.app, user.session_token)).statusCode).toBe(401);
    await eventually(
      () =>
        gateway.verify(user.session_token).then(
          () => false,
          () => true,
        ),
      5_000,
    );
    expect((await refresh(identity.app, user.refresh_token)).statusCode).toBe(401);
    expect((await refresh(identity.app, second.refresh_token)).statusCode).toBe(401);
    await gatewayList.stop();

    // The install id starts over as a brand-new anonymous user.
    const fresh = (await anonymousSession(identity.app, { installId })).bundle!;
    expect(fresh.user_id).not.toBe(user.user_id);
    expect((await deleteMe(user.session_token)).statusCode).toBe(401);

    // Nothing in identity points back to the erased user but the revocation cutoff and the outbox.
    const leftovers = await identity.runtime.database.sql.unsafe<{ t: string }[]>(
      `select row_to_json(e)::text as t from identity.erasures e
       union all select row_to_json(c)::text from identity.erasure_confirmations c`,
    );
    expect(leftovers.map((r) => r.t).join('\n')).not.toContain(user.user_id);
    expect(
      await count(identity.runtime, 'select count(*) as n from identity.devices where install_id_hash = $1', [
        sha256(installId),
      ]),
    ).toBe(1);
  });

  it('answers 202 pending until every service confirmed; the status route then reports completion', async () => {
    const user = await newUser();
    heldBack.add(user.user_id);
    const started = Date.now();
    const res = await deleteMe(user.session_token);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
    expect(res.statusCode).toBe(202);
    const pending = Erasure.parse(res.json());
    expect(pending).toMatchObject({ status: 'pending', completed_at: null });
    expect(pending.services.map((s) => [s.service, s.status])).toEqual([
      ['identity', 'purged'],
      ['usage', 'purged'],
      ['tasks', 'pending'],
    ]);
    const statusUrl = res.headers.location as string;
    const polled = await identity.app.inject({ method: 'GET', url: statusUrl });
    expect(polled.statusCode).toBe(200);
    expect(polled.json().status).toBe('pending');

    await confirm(
      'tasks',
      deletedEvents.find((e) => e.data.user_id === user.user_id)!,
    );
    const done = await eventually(async () => {
      const r = await identity.app.inject({ method: 'GET', url: statusUrl });
      const body = r.json() as Erasure;
      return body.status === 'completed' ? body : undefined;
    }, 5_000);
    expect(done.services.every((s) => s.status === 'purged')).toBe(true);
    // A redelivered confirmation changes nothing.
    await confirm(
      'tasks',
      deletedEvents.find((e) => e.data.user_id === user.user_id)!,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect((await identity.app.inject({ method: 'GET', url: statusUrl })).json()).toEqual(done);
  });

  it('the erasure status route answers 404 for an unknown erasure and 422 for a malformed id', async () => {
    expect(
      (await identity.app.inject({ method: 'GET', url: `/v1/users/erasures/${newId()}` })).statusCode,
    ).toBe(404);
    expect((await identity.app.inject({ method: 'GET', url: '/v1/users/erasures/nope' })).statusCode).toBe(
      422,
    );
  });
});

describe('OpenAPI', () => {
  it('documents the auth, user and erasure routes', async () => {
    const res = await identity.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = res.json().paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining([
        '/v1/auth/google',
        '/v1/auth/refresh',
        '/v1/auth/logout',
        '/v1/auth/logout-all',
        '/v1/users/me',
        '/v1/users/erasures/{erasure_id}',
      ]),
    );
    expect(Object.keys(paths['/v1/users/me']!).sort()).toEqual(['delete', 'get', 'patch']);
  });
});
