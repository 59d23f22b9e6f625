import { SignInResponse, type TokenBundle } from '@offload/contracts';
import { startFakeGoogle, type FakeGoogle } from '@offload/testing';
import { base64url, decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIdentityApp } from '../src/app.js';
import { createGoogleIdTokenVerifier } from '../src/security/google-id-tokens.js';
import {
  anonymousSession,
  bearer,
  count,
  getMe,
  newInstallId,
  outboxEvents,
  refresh,
  sha256,
  startIdentity,
  type IdentityUnderTest,
} from './support.js';

let google: FakeGoogle;
let identity: IdentityUnderTest;
const OTHER_CLIENT = 'second-client.apps.googleusercontent.com';
/** Every Google token and email this file used; none may reach a log line or another table. */
const secrets = new Set<string>();

beforeAll(async () => {
  google = await startFakeGoogle();
  identity = await startIdentity({
    env: {
      GOOGLE_JWKS_URL: google.jwksUrl,
      GOOGLE_CLIENT_IDS: `${google.clientId},${OTHER_CLIENT}`,
      GOOGLE_JWKS_COOLDOWN_SECONDS: '0',
      SESSION_RATE_LIMIT_PER_IP: '100000',
    },
  });
});

afterAll(async () => {
  await identity?.close();
  await google?.close();
});

async function signIn(idToken: string, headers: Record<string, string> = {}) {
  secrets.add(idToken);
  const email = idToken.split('.').length === 3 ? decodeJwt(idToken).email : undefined;
  if (typeof email === 'string') secrets.add(email);
  return identity.app.inject({
    method: 'POST',
    url: '/v1/auth/google',
    payload: { id_token: idToken },
    headers,
  });
}

async function expectRefused(idToken: string) {
  const usersBefore = await count(identity.runtime, 'select count(*) as n from identity.users');
  const res = await signIn(idToken);
  expect(res.statusCode).toBe(401);
  expect(res.json().error).toEqual({
    code: 'google_auth_failed',
    message: 'the Google sign-in could not be verified',
    request_id: expect.any(String),
  });
  expect(await count(identity.runtime, 'select count(*) as n from identity.users')).toBe(usersBefore);
  return res;
}

const rejectionReasons = () =>
  identity.logs
    .parsed()
    .filter((l) => l.msg === 'google id token rejected')
    .map((l) => l.reason);

describe('POST /v1/auth/google: verification', () => {
  it('signs a new Google user in: token bundle plus user, created once, not anonymous', async () => {
    const sub = '109876543210987654321';
    const res = await signIn(await google.idToken({ sub, email: 'ada@example.com' }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = SignInResponse.parse(res.json());
    expect(body.user).toMatchObject({ id: body.user_id, anonymous: false, tier: 'free', version: 1 });
    expect(decodeJwt(body.session_token)).toMatchObject({ sub: body.user_id, anon: false });
    expect(decodeJwt(body.session_token)).not.toHaveProperty('did');
    const [row] = await identity.runtime.database.sql<{ user_id: string; email: string }[]>`
      select user_id, email from identity.google_identities where sub = ${sub}`;
    expect(row).toEqual({ user_id: body.user_id, email: 'ada@example.com' });
    expect(await outboxEvents(identity.runtime, 'identity.user.created', body.user_id)).toEqual([
      expect.objectContaining({ data: { user_id: body.user_id, anonymous: false, tier: 'free' } }),
    ]);

    const again = await signIn(await google.idToken({ sub, email: 'ada.lovelace@example.com' }));
    expect(again.statusCode).toBe(200);
    expect(again.json().user_id).toBe(body.user_id);
    expect(decodeJwt(again.json().session_token).sid).not.toBe(decodeJwt(body.session_token).sid);
    const [updated] = await identity.runtime.database.sql<{ email: string }[]>`
      select email from identity.google_identities where sub = ${sub}`;
    expect(updated!.email).toBe('ada.lovelace@example.com');
  });

  it('accepts both spellings of the issuer and every configured client id', async () => {
    for (const claims of [{ iss: 'accounts.google.com' }, { aud: OTHER_CLIENT }]) {
      const res = await signIn(await google.idToken(claims));
      expect(res.statusCode).toBe(200);
    }
  });

  it('refuses a Google token for another audience', async () => {
    await expectRefused(await google.idToken({ aud: 'someone-elses-app.apps.googleusercontent.com' }));
    expect(rejectionReasons().at(-1)).toBe('audience');
  });

  it('refuses an expired Google token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(await google.idToken({ iat: now - 7200, exp: now - 60 }));
    expect(rejectionReasons().at(-1)).toBe('expired');
  });

  it('refuses a Google token with the wrong issuer', async () => {
    await expectRefused(await google.idToken({ iss: 'https://accounts.evil.example' }));
    expect(rejectionReasons().at(-1)).toBe('issuer');
  });

  it('refuses a Google token whose email is not verified (false or missing)', async () => {
    await expectRefused(await google.idToken({ email_verified: false }));
    expect(rejectionReasons().at(-1)).toBe('email_unverified');
    await expectRefused(await google.idToken({ email_verified: undefined }));
    expect(rejectionReasons().at(-1)).toBe('email_unverified');
  });

  it('refuses a token Google did not sign: other key, alg none, HS256 with the public key, garbage', async () => {
    await expectRefused(await google.idToken({}, { signWith: 'unpublished' }));
    expect(rejectionReasons().at(-1)).toBe('signature');
    const [, payload] = (await google.idToken()).split('.');
    const none = base64url.encode(JSON.stringify({ alg: 'none', kid: google.kid, typ: 'JWT' }));
    await expectRefused(`${none}.${payload}.`);
    const jwks = (await (await fetch(google.jwksUrl)).json()) as { keys: unknown[] };
    const hs = await new SignJWT(decodeJwt(await google.idToken()))
      .setProtectedHeader({ alg: 'HS256', kid: google.kid })
      .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
    await expectRefused(hs);
    await expectRefused('not-a-jwt');
  });

  it('caches Google’s keys per Cache-Control and refetches them for an unknown kid', async () => {
    await signIn(await google.idToken());
    const before = google.jwksRequests;
    for (let i = 0; i < 3; i++) expect((await signIn(await google.idToken())).statusCode).toBe(200);
    expect(google.jwksRequests).toBe(before);

    // Google rotates: a token with the new kid makes the service fetch the keys again, once.
    google.setCacheControl('public, max-age=1');
    await google.rotateKey({ keepOld: true });
    expect((await signIn(await google.idToken())).statusCode).toBe(200);
    expect(google.jwksRequests).toBe(before + 1);
    expect((await signIn(await google.idToken())).statusCode).toBe(200);
    expect(google.jwksRequests).toBe(before + 1);

    // That response said max-age=1: a second later the keys are fetched again.
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await signIn(await google.idToken())).statusCode).toBe(200);
    expect(google.jwksRequests).toBe(before + 2);
    google.setCacheControl('public, max-age=300');
  });

  it('keeps the keys it has when Google’s endpoint fails, and answers 503 when it has none', async () => {
    google.failJwksWith(500);
    try {
      // The running service refetches (max-age was 1 s) and falls back to the keys it knows.
      await new Promise((r) => setTimeout(r, 1_100));
      expect((await signIn(await google.idToken())).statusCode).toBe(200);

      const fresh = createGoogleIdTokenVerifier({
        jwksUrl: google.jwksUrl,
        clientIds: [google.clientId],
        refetchCooldownMs: 0,
      });
      const app = await buildIdentityApp({ ...identity.runtime, google: fresh });
      const res = await app.inject({
        method: 'POST',
        url: '/v1/auth/google',
        payload: { id_token: await google.idToken() },
      });
      await app.close();
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('provider_unavailable');
    } finally {
      google.failJwksWith(undefined);
    }
  });

  it('answers 503 provider_unavailable when no Google client id is configured', async () => {
    const unconfigured = createGoogleIdTokenVerifier({
      jwksUrl: google.jwksUrl,
      clientIds: [],
      refetchCooldownMs: 0,
    });
    const app = await buildIdentityApp({ ...identity.runtime, google: unconfigured });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/auth/google',
      payload: { id_token: await google.idToken() },
    });
    await app.close();
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('provider_unavailable');
  });

  it('rejects a body without id_token or with unknown fields (422)', async () => {
    for (const payload of [{}, { id_token: '' }, { id_token: 'x', email: 'a@b.c' }]) {
      const res = await identity.app.inject({ method: 'POST', url: '/v1/auth/google', payload });
      expect(res.statusCode).toBe(422);
    }
  });
});

describe('POST /v1/auth/google: linking', () => {
  it('links an anonymous user: same user id, no longer anonymous, the install id gets no anonymous session', async () => {
    const installId = newInstallId();
    const anon = (await anonymousSession(identity.app, { installId })).bundle!;
    secrets.add(installId);
    const res = await signIn(await google.idToken(), bearer(anon.session_token));
    expect(res.statusCode).toBe(200);
    const linked = SignInResponse.parse(res.json());
    expect(linked.user_id).toBe(anon.user_id);
    expect(linked.user).toMatchObject({ id: anon.user_id, anonymous: false });
    // The device that linked keeps a device-bound session.
    expect(decodeJwt(linked.session_token)).toMatchObject({ sub: anon.user_id, anon: false, did: installId });

    const me = await getMe(identity.app, linked.session_token);
    expect(me.json()).toMatchObject({ id: anon.user_id, anonymous: false });
    expect(await outboxEvents(identity.runtime, 'identity.user.linked', anon.user_id)).toEqual([
      expect.objectContaining({
        data: { user_id: anon.user_id, provider: 'google', linked_at: expect.any(String) },
      }),
    ]);
    expect(await outboxEvents(identity.runtime, 'identity.user.created', anon.user_id)).toHaveLength(1);

    // A new anonymous session for that install id must not grant access to the linked account.
    const again = await anonymousSession(identity.app, { installId });
    expect(again.res.statusCode).toBe(409);
    expect(again.res.json().error.code).toBe('identity_already_linked');
    // The anonymous session's own refresh token still works, now for the linked user.
    const refreshed = await refresh(identity.app, anon.refresh_token);
    expect(refreshed.statusCode).toBe(200);
    expect(decodeJwt(refreshed.json().session_token)).toMatchObject({ sub: anon.user_id, anon: false });
  });

  it('linking conflict: 409 identity_already_linked when the Google account belongs to another user, nothing changed', async () => {
    const sub = '100000000000000000042';
    const owner = (await signIn(await google.idToken({ sub }))).json() as TokenBundle;
    const anon = (await anonymousSession(identity.app)).bundle!;
    const snapshot = () =>
      identity.runtime.database.sql.unsafe(
        `select
           (select row_to_json(u)::text from identity.users u where id = $1) as anon_user,
           (select row_to_json(u)::text from identity.users u where id = $2) as owner_user,
           (select json_agg(g order by sub)::text from identity.google_identities g where user_id in ($1, $2)) as identities,
           (select count(*) from identity.sessions where user_id = $1) as anon_sessions,
           (select count(*) from identity.sessions where user_id = $2) as owner_sessions,
           (select count(*) from identity.outbox where payload->>'subject' in ($1::text, $2::text)) as events`,
        [anon.user_id, owner.user_id],
      );
    const before = await snapshot();

    const res = await signIn(await google.idToken({ sub }), bearer(anon.session_token));
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('identity_already_linked');
    expect(await snapshot()).toEqual(before);
    expect((await getMe(identity.app, anon.session_token)).json()).toMatchObject({ anonymous: true });
  });

  it('the same Google account linked by two anonymous users at once: one links, the other gets 409', async () => {
    const idToken = await google.idToken();
    const [a, b] = [
      (await anonymousSession(identity.app)).bundle!,
      (await anonymousSession(identity.app)).bundle!,
    ];
    const results = await Promise.all([
      signIn(idToken, bearer(a.session_token)),
      signIn(idToken, bearer(b.session_token)),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const winner = results.find((r) => r.statusCode === 200)!.json().user_id;
    const anonymous = await identity.runtime.database.sql<{ id: string; anonymous: boolean }[]>`
      select id, anonymous from identity.users where id in (${a.user_id}, ${b.user_id}) order by id`;
    expect(anonymous.filter((u) => !u.anonymous).map((u) => u.id)).toEqual([winner]);
  });

  it('a signed-in caller’s bearer is not a link: the Google account signs in as itself', async () => {
    const first = (await signIn(await google.idToken())).json() as TokenBundle;
    const second = await signIn(await google.idToken(), bearer(first.session_token));
    expect(second.statusCode).toBe(200);
    expect(second.json().user_id).not.toBe(first.user_id);
  });

  it('refuses a bad bearer token instead of silently signing in', async () => {
    const res = await signIn(await google.idToken(), { authorization: 'Bearer a.b.c' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('invalid_token');
  });
});

describe('privacy', () => {
  it('keeps Google emails only in google_identities.email, and logs neither tokens nor emails', async () => {
    const emails = [...secrets].filter((s) => s.includes('@'));
    expect(emails.length).toBeGreaterThan(5);
    const dump = await identity.runtime.database.sql.unsafe<{ t: string }[]>(`
      select row_to_json(u)::text as t from identity.users u
      union all select row_to_json(s)::text from identity.sessions s
      union all select row_to_json(r)::text from identity.refresh_tokens r
      union all select row_to_json(d)::text from identity.devices d
      union all select row_to_json(o)::text from identity.outbox o
      union all select row_to_json(g)::text from (select sub, user_id from identity.google_identities) g`);
    const text = dump.map((r) => r.t).join('\n');
    for (const email of emails) expect(text).not.toContain(email);

    const logs = identity.logs.text();
    expect(logs).toContain('google id token rejected');
    expect(logs).toContain('google sign-in');
    for (const secret of secrets) expect(logs).not.toContain(secret);
    for (const secret of secrets) {
      const parts = secret.split('.');
      if (parts.length === 3 && parts[1]!.length > 20) expect(logs).not.toContain(parts[1]!);
    }
    expect(sha256('x')).toHaveLength(64);
  });
});
