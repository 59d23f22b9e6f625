import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { createTokenVerifier } from './index.js';
import { RevocationSet } from './revocations.js';

const at = (iso: string) => Date.parse(iso);

describe('RevocationSet', () => {
  it('refuses the revoked sessions and nothing else', () => {
    const set = new RevocationSet();
    set.apply({
      user_id: 'u1',
      session_ids: ['s1'],
      all: false,
      revoked_at: '2026-01-01T00:00:00.000Z',
      reason: 'logout',
    });
    expect(set.isRevoked('s1', 'u1', 0)).toBe(true);
    expect(set.isRevoked('s2', 'u1', 0)).toBe(false);
  });

  it('after a logout-all refuses the user’s tokens issued up to that second, not later ones', () => {
    const set = new RevocationSet();
    set.apply({
      user_id: 'u1',
      session_ids: [],
      all: true,
      revoked_at: '2026-01-01T00:00:10.400Z',
      reason: 'logout_all',
    });
    const second = at('2026-01-01T00:00:10.000Z') / 1000;
    expect(set.isRevoked('any', 'u1', second - 100)).toBe(true);
    expect(set.isRevoked('any', 'u1', second)).toBe(true);
    expect(set.isRevoked('any', 'u1', second + 1)).toBe(false);
    expect(set.isRevoked('any', 'u2', second - 100)).toBe(false);
  });

  it('merges snapshots and events in any order and forgets entries older than the window', () => {
    const set = new RevocationSet();
    set.applySnapshot({
      window_seconds: 960,
      generated_at: '2026-01-01T00:10:00.000Z',
      sessions: [{ session_id: 's1', user_id: 'u1', revoked_at: '2026-01-01T00:00:00.000Z' }],
      users: [{ user_id: 'u2', revoked_before: '2026-01-01T00:05:00.000Z' }],
      next_cursor: null,
    });
    expect(set.size).toEqual({ sessions: 1, users: 1 });
    set.prune(at('2026-01-01T00:16:00.000Z'));
    expect(set.size).toEqual({ sessions: 1, users: 1 });
    set.prune(at('2026-01-01T00:16:00.001Z'));
    expect(set.size).toEqual({ sessions: 0, users: 1 });
    expect(set.isRevoked('s1', 'u1', 0)).toBe(false);
  });
});

describe('createTokenVerifier with revocations', () => {
  it('refuses a revoked session’s token even when it is already cached', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'EdDSA' };
    const sid = randomUUID();
    const token = await new SignJWT({ sid, tier: 'free', anon: true })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k', typ: 'at+jwt' })
      .setIssuer('offload-cloud/identity')
      .setAudience('offload-cloud')
      .setSubject(randomUUID())
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const revocations = new RevocationSet();
    const verifier = createTokenVerifier({ source: async () => ({ keys: [jwk] }), revocations });
    await expect(verifier.verify(token)).resolves.toMatchObject({ sessionId: sid });
    revocations.revokeSessions([sid], Date.now());
    const error = await verifier.verify(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('invalid_token');
  });
});
