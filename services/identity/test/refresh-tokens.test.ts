import { TokenBundle } from '@offload/contracts';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  anonymousSession,
  getMe,
  newInstallId,
  outboxEvents,
  refresh,
  sha256,
  startIdentity,
  type IdentityUnderTest,
} from './support.js';

let identity: IdentityUnderTest;
const DAY = 86_400_000;

beforeAll(async () => {
  identity = await startIdentity({ env: { SESSION_RATE_LIMIT_PER_IP: '100000' } });
});

afterAll(async () => {
  await identity?.close();
});

async function newSession(installId = newInstallId()) {
  const { bundle } = await anonymousSession(identity.app, { installId });
  return { bundle: bundle!, installId };
}

const sql = () => identity.runtime.database.sql;

async function tokenRow(token: string) {
  const [row] = await sql()<{ session_id: string; used_at: string | null; expires_at: string }[]>`
    select session_id, used_at, expires_at from identity.refresh_tokens where token_hash = ${sha256(token)}`;
  return row;
}

async function expectInvalid(token: string) {
  const res = await refresh(identity.app, token);
  expect(res.statusCode).toBe(401);
  expect(res.json().error.code).toBe('invalid_refresh_token');
}

/** Moves a token's use into the past, as if it had been used `seconds` ago. */
async function usedSecondsAgo(token: string, seconds: number) {
  await sql()`update identity.refresh_tokens set used_at = now() - make_interval(secs => ${seconds})
    where token_hash = ${sha256(token)}`;
}

describe('POST /v1/auth/refresh', () => {
  it('refresh rotation: a new pair for the same session and user; the old token is spent', async () => {
    const { bundle, installId } = await newSession();
    const res = await refresh(identity.app, bundle.refresh_token);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const next = TokenBundle.parse(res.json());
    expect(next.refresh_token).not.toBe(bundle.refresh_token);
    expect(next.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(next.user_id).toBe(bundle.user_id);
    const before = decodeJwt(bundle.session_token);
    const after = decodeJwt(next.session_token);
    // Same session (sid) and device (did, recovered from the sealed copy), new token id.
    expect(after).toMatchObject({ sub: bundle.user_id, sid: before.sid, did: installId, anon: true });
    expect(after.jti).not.toBe(before.jti);
    expect((await getMe(identity.app, next.session_token)).statusCode).toBe(200);

    const spent = await tokenRow(bundle.refresh_token);
    expect(spent!.used_at).not.toBeNull();
    const fresh = await tokenRow(next.refresh_token);
    expect(fresh).toMatchObject({ session_id: before.sid, used_at: null });
    expect(Date.parse(fresh!.expires_at) - Date.now()).toBeGreaterThan(7 * DAY - 60_000);
    expect(Date.parse(fresh!.expires_at) - Date.now()).toBeLessThanOrEqual(7 * DAY);

    // A chain of rotations keeps working.
    let current = next.refresh_token;
    for (let i = 0; i < 3; i++) {
      const r = await refresh(identity.app, current);
      expect(r.statusCode).toBe(200);
      current = r.json().refresh_token;
    }
  });

  it('an already-used token inside the grace window returns the family’s current pair', async () => {
    const { bundle } = await newSession();
    const first = (await refresh(identity.app, bundle.refresh_token)).json() as TokenBundle;
    const replay = await refresh(identity.app, bundle.refresh_token);
    expect(replay.statusCode).toBe(200);
    const replayed = replay.json() as TokenBundle;
    expect(replayed.refresh_token).toBe(first.refresh_token);
    expect(replayed.session_token).not.toBe(first.session_token);
    expect(decodeJwt(replayed.session_token).sid).toBe(decodeJwt(first.session_token).sid);

    // The current token moved on twice since: the replay still lands on the current one.
    const second = (await refresh(identity.app, first.refresh_token)).json() as TokenBundle;
    const third = (await refresh(identity.app, second.refresh_token)).json() as TokenBundle;
    const late = await refresh(identity.app, bundle.refresh_token);
    expect(late.json().refresh_token).toBe(third.refresh_token);
    expect((await refresh(identity.app, third.refresh_token)).statusCode).toBe(200);
  });

  it('concurrent refresh inside the grace window: both callers succeed with the same current token', async () => {
    const { bundle } = await newSession();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => refresh(identity.app, bundle.refresh_token)),
    );
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    const tokens = new Set(results.map((r) => r.json().refresh_token as string));
    expect(tokens.size).toBe(1);
    const [current] = [...tokens];
    for (const r of results) expect((await getMe(identity.app, r.json().session_token)).statusCode).toBe(200);
    // Exactly one rotation happened: the family has two tokens, the presented one (used) and its successor.
    const sid = decodeJwt(bundle.session_token).sid as string;
    const rows = await sql()<{ used: boolean }[]>`
      select used_at is not null as used from identity.refresh_tokens where session_id = ${sid} order by created_at`;
    expect(rows).toEqual([{ used: true }, { used: false }]);
    expect((await refresh(identity.app, current!)).statusCode).toBe(200);
  });

  it('reuse outside the grace window revokes the whole family', async () => {
    const { bundle } = await newSession();
    const sid = decodeJwt(bundle.session_token).sid as string;
    const current = (await refresh(identity.app, bundle.refresh_token)).json() as TokenBundle;
    // Inside the window (10 s) the replay still works; just past it, it is reuse.
    await usedSecondsAgo(bundle.refresh_token, 9);
    expect((await refresh(identity.app, bundle.refresh_token)).statusCode).toBe(200);
    await usedSecondsAgo(bundle.refresh_token, 11);
    await expectInvalid(bundle.refresh_token);

    // The whole family is gone: its current refresh token and its access tokens.
    await expectInvalid(current.refresh_token);
    const [session] = await sql()<{ revoked: boolean }[]>`
      select revoked_at is not null as revoked from identity.sessions where id = ${sid}`;
    expect(session!.revoked).toBe(true);
    const me = await getMe(identity.app, current.session_token);
    expect(me.statusCode).toBe(401);
    expect(me.json().error.code).toBe('invalid_token');
    const revoked = await outboxEvents<{ data: Record<string, unknown> }>(
      identity.runtime,
      'identity.session.revoked',
      bundle.user_id,
    );
    expect(revoked.map((e) => e.data)).toEqual([
      {
        user_id: bundle.user_id,
        session_ids: [sid],
        all: false,
        revoked_at: expect.any(String),
        reason: 'refresh_token_reuse',
      },
    ]);
    // Other sessions of the same user are untouched.
    const other = (await anonymousSession(identity.app)).bundle!;
    expect((await refresh(identity.app, other.refresh_token)).statusCode).toBe(200);
  });

  it('idle expiry: a refresh token unused past its 7-day idle lifetime is refused', async () => {
    const { bundle } = await newSession();
    await sql()`update identity.refresh_tokens set expires_at = now() + interval '1 minute'
      where token_hash = ${sha256(bundle.refresh_token)}`;
    const justInTime = (await refresh(identity.app, bundle.refresh_token)).json() as TokenBundle;
    await sql()`update identity.refresh_tokens set expires_at = now() - interval '1 second'
      where token_hash = ${sha256(justInTime.refresh_token)}`;
    await expectInvalid(justInTime.refresh_token);
    expect(
      identity.logs.parsed().some((l) => l.msg === 'refresh refused' && l.reason === 'idle_expired'),
    ).toBe(true);
  });

  it('absolute expiry: nothing refreshes 30 days after the session started, and no token outlives it', async () => {
    const { bundle } = await newSession();
    const sid = decodeJwt(bundle.session_token).sid as string;
    const [started] = await sql()<{ created_at: string; absolute_expires_at: string }[]>`
      select created_at, absolute_expires_at from identity.sessions where id = ${sid}`;
    expect(Date.parse(started!.absolute_expires_at) - Date.parse(started!.created_at)).toBe(30 * DAY);

    // Late in the session's life a rotated token expires with the session, not 7 days later.
    await sql()`update identity.sessions set absolute_expires_at = date_trunc('milliseconds', now() + interval '2 days') where id = ${sid}`;
    const late = (await refresh(identity.app, bundle.refresh_token)).json() as TokenBundle;
    const [times] = await sql()<{ token_expires: string; session_expires: string }[]>`
      select r.expires_at as token_expires, s.absolute_expires_at as session_expires
      from identity.refresh_tokens r join identity.sessions s on s.id = r.session_id
      where r.token_hash = ${sha256(late.refresh_token)}`;
    expect(times!.token_expires).toBe(times!.session_expires);

    await sql()`update identity.sessions set absolute_expires_at = now() - interval '1 second' where id = ${sid}`;
    await expectInvalid(late.refresh_token);
    // Even a replay inside the grace window is refused once the session ended.
    await expectInvalid(bundle.refresh_token);
  });

  it('refuses an unknown token, and a body that is not one refresh token (422)', async () => {
    await expectInvalid('A'.repeat(43));
    for (const payload of [
      {},
      { refresh_token: '' },
      { refresh_token: 'x'.repeat(257) },
      { refresh_token: 'x', a: 1 },
    ]) {
      expect(
        (await identity.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload })).statusCode,
      ).toBe(422);
    }
  });

  it('refuses the tokens of an erased user', async () => {
    const { bundle } = await newSession();
    await sql()`update identity.users set deleted_at = now() where id = ${bundle.user_id}`;
    await expectInvalid(bundle.refresh_token);
  });
});
