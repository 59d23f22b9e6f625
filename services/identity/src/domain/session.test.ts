import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER } from '@offload/contracts';
import { describe, expect, it } from 'vitest';
import { accessTokenClaims, decideAnonymousResume, decideRefresh, sessionExpiries } from './session.js';

const policy = { accessTokenTtlSeconds: 900, refreshIdleDays: 7, refreshAbsoluteDays: 30 };
const DAY = 86_400_000;

describe('sessionExpiries', () => {
  it('gives a new session 7 idle days and 30 absolute days', () => {
    const now = new Date('2026-01-01T00:00:00.000Z');
    const { absoluteExpiresAt, refreshExpiresAt } = sessionExpiries(now, policy);
    expect(absoluteExpiresAt.toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(refreshExpiresAt.toISOString()).toBe('2026-01-08T00:00:00.000Z');
  });

  it('never lets a refresh token outlive its session', () => {
    const started = new Date('2026-01-01T00:00:00.000Z');
    const lateInLife = new Date(started.getTime() + 25 * DAY);
    const { absoluteExpiresAt, refreshExpiresAt } = sessionExpiries(lateInLife, policy, started);
    expect(refreshExpiresAt.getTime()).toBe(absoluteExpiresAt.getTime());
    const early = sessionExpiries(new Date(started.getTime() + 23 * DAY), policy, started);
    expect(early.refreshExpiresAt.getTime()).toBe(started.getTime() + 30 * DAY);
    const earlier = sessionExpiries(new Date(started.getTime() + 22 * DAY), policy, started);
    expect(earlier.refreshExpiresAt.getTime()).toBe(started.getTime() + 29 * DAY);
  });
});

describe('accessTokenClaims', () => {
  const subject = {
    userId: '0190a4c2-0000-7000-8000-000000000001',
    sessionId: '0190a4c2-0000-7000-8000-000000000002',
    installId: 'install-0001',
    tier: 'free' as const,
    anonymous: true,
  };

  it('has exactly the DESIGN 5 claims, in whole seconds', () => {
    const claims = accessTokenClaims(subject, {
      now: new Date('2026-01-01T00:00:00.999Z'),
      ttlSeconds: 900,
      jti: 'jti-1',
    });
    expect(claims).toEqual({
      iss: ACCESS_TOKEN_ISSUER,
      aud: ACCESS_TOKEN_AUDIENCE,
      sub: subject.userId,
      sid: subject.sessionId,
      did: 'install-0001',
      tier: 'free',
      anon: true,
      iat: 1767225600,
      exp: 1767225600 + 900,
      jti: 'jti-1',
    });
  });

  it('leaves `did` out for a session without a device', () => {
    const claims = accessTokenClaims(
      { ...subject, installId: undefined, anonymous: false, tier: 'pro' },
      { now: new Date(0), ttlSeconds: 60, jti: 'j' },
    );
    expect(claims).not.toHaveProperty('did');
    expect(claims).toMatchObject({ anon: false, tier: 'pro', iat: 0, exp: 60 });
  });
});

describe('decideAnonymousResume', () => {
  it('resumes an anonymous, living user', () => {
    expect(decideAnonymousResume({ anonymous: true, deletedAt: null })).toEqual({ allowed: true });
  });
  it('refuses a user who linked an identity', () => {
    expect(decideAnonymousResume({ anonymous: false, deletedAt: null })).toEqual({
      allowed: false,
      reason: 'linked',
    });
  });
  it('refuses an erased user, linked or not', () => {
    for (const anonymous of [true, false]) {
      expect(decideAnonymousResume({ anonymous, deletedAt: new Date() })).toEqual({
        allowed: false,
        reason: 'deleted',
      });
    }
  });
});

describe('decideRefresh', () => {
  const now = new Date('2026-01-10T00:00:00.000Z');
  const live = { revokedAt: null, absoluteExpiresAt: new Date(now.getTime() + DAY) };
  const unused = { usedAt: null, expiresAt: new Date(now.getTime() + DAY) };
  const usedAgo = (ms: number) => ({ usedAt: new Date(now.getTime() - ms), expiresAt: unused.expiresAt });

  it('rotates the current token', () => {
    expect(decideRefresh(unused, live, now, 10)).toEqual({ kind: 'rotate' });
  });
  it('replays a token used up to the grace window ago, and treats one used longer ago as reuse', () => {
    expect(decideRefresh(usedAgo(0), live, now, 10)).toEqual({ kind: 'replay' });
    expect(decideRefresh(usedAgo(10_000), live, now, 10)).toEqual({ kind: 'replay' });
    expect(decideRefresh(usedAgo(10_001), live, now, 10)).toEqual({ kind: 'reuse' });
    expect(decideRefresh(usedAgo(1), live, now, 0)).toEqual({ kind: 'reuse' });
  });
  it('refuses an idle-expired token at its expiry, not before', () => {
    expect(decideRefresh({ usedAt: null, expiresAt: new Date(now.getTime() + 1) }, live, now, 10)).toEqual({
      kind: 'rotate',
    });
    expect(decideRefresh({ usedAt: null, expiresAt: now }, live, now, 10)).toEqual({
      kind: 'reject',
      reason: 'idle_expired',
    });
  });
  it('refuses everything in a session past its absolute lifetime or revoked, replays included', () => {
    const ended = { revokedAt: null, absoluteExpiresAt: now };
    expect(decideRefresh(unused, ended, now, 10)).toEqual({ kind: 'reject', reason: 'absolute_expired' });
    expect(decideRefresh(usedAgo(1), ended, now, 10)).toEqual({ kind: 'reject', reason: 'absolute_expired' });
    const revoked = { revokedAt: now, absoluteExpiresAt: live.absoluteExpiresAt };
    expect(decideRefresh(unused, revoked, now, 10)).toEqual({ kind: 'reject', reason: 'revoked' });
    expect(decideRefresh(usedAgo(60_000), revoked, now, 10)).toEqual({ kind: 'reject', reason: 'revoked' });
  });
});
