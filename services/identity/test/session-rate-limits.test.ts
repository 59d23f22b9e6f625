import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenanceRepository } from '../src/db/maintenance-repository.js';
import { createRateLimitRepository } from '../src/db/rate-limit-repository.js';
import { shortHash } from '../src/security/hashing.js';
import { runMaintenance } from '../src/use-cases/run-maintenance.js';
import { anonymousSession, newInstallId, startIdentity, type IdentityUnderTest } from './support.js';

// Default limits: 8 sessions a minute per client IP, 4 per install id (DESIGN 5).
let identity: IdentityUnderTest;
let replica: IdentityUnderTest;
let ipCounter = 0;
/** A client address no other test in this file uses (TEST-NET-3). */
const freshIp = () => `203.0.113.${++ipCounter}`;

beforeAll(async () => {
  identity = await startIdentity();
  // A second replica on the same database: the budget is shared, not per process.
  replica = await startIdentity({ infra: identity.infra, migrate: false });
});

afterAll(async () => {
  await replica?.close();
  await identity?.close();
});

function expectLimited(res: Awaited<ReturnType<typeof anonymousSession>>['res']) {
  expect(res.statusCode).toBe(429);
  const error = res.json().error;
  expect(error.code).toBe('session_rate_limited');
  expect(error.retry_after).toBeGreaterThanOrEqual(1);
  expect(error.retry_after).toBeLessThanOrEqual(60);
  expect(res.headers['retry-after']).toBe(String(error.retry_after));
}

describe('session issuance limits', () => {
  it('per IP: 8 sessions a minute pass, the 9th is 429 session_rate_limited with retry_after', async () => {
    const ip = freshIp();
    for (let i = 0; i < 8; i++) {
      expect((await anonymousSession(identity.app, { ip })).res.statusCode, `call ${i + 1}`).toBe(201);
    }
    const ninth = await anonymousSession(identity.app, { ip });
    expectLimited(ninth.res);
    // About 60/8 s until the bucket holds one more session (less the refill since the first call).
    expect(ninth.res.json().error.retry_after).toBeGreaterThanOrEqual(6);
    expect(ninth.res.json().error.retry_after).toBeLessThanOrEqual(8);
    // Another address is not affected.
    expect((await anonymousSession(identity.app, { ip: freshIp() })).res.statusCode).toBe(201);
  });

  it('per install id: 4 sessions a minute pass, the 5th is 429 whatever the IP', async () => {
    const installId = newInstallId();
    for (let i = 0; i < 4; i++) {
      expect((await anonymousSession(identity.app, { installId, ip: freshIp() })).res.statusCode).toBe(201);
    }
    const fifth = await anonymousSession(identity.app, { installId, ip: freshIp() });
    expectLimited(fifth.res);
    expect(fifth.res.json().error.retry_after).toBeGreaterThanOrEqual(12);
    expect(fifth.res.json().error.retry_after).toBeLessThanOrEqual(15);
    expect((await anonymousSession(identity.app, { ip: freshIp() })).res.statusCode).toBe(201);
  });

  it('shares one budget across replicas (Postgres token buckets)', async () => {
    const ip = freshIp();
    for (let i = 0; i < 8; i++) {
      const app = i % 2 === 0 ? identity.app : replica.app;
      expect((await anonymousSession(app, { ip })).res.statusCode).toBe(201);
    }
    expectLimited((await anonymousSession(replica.app, { ip })).res);
    expectLimited((await anonymousSession(identity.app, { ip })).res);
  });

  it('counts concurrent calls exactly: 12 at once from one IP give 8 sessions and 4 refusals', async () => {
    const ip = freshIp();
    const results = await Promise.all(
      Array.from({ length: 12 }, () => anonymousSession(identity.app, { ip })),
    );
    const statuses = results.map((r) => r.res.statusCode).sort();
    expect(statuses).toEqual([...Array(8).fill(201), ...Array(4).fill(429)]);
  });

  it('takes the client IP from X-Forwarded-For only when the trusted proxy (the gateway) sends it', async () => {
    const client = freshIp();
    // Through the gateway on loopback: the forwarded address is the one that counts.
    for (let i = 0; i < 8; i++) {
      const { res } = await anonymousSession(identity.app, {
        ip: '127.0.0.1',
        headers: { 'x-forwarded-for': client },
      });
      expect(res.statusCode).toBe(201);
    }
    expectLimited(
      (await anonymousSession(identity.app, { ip: '127.0.0.1', headers: { 'x-forwarded-for': client } })).res,
    );
    // From anyone else the header changes nothing: a spoofer is counted by its own address.
    const spoofer = freshIp();
    for (let i = 0; i < 8; i++) {
      const { res } = await anonymousSession(identity.app, {
        ip: spoofer,
        headers: { 'x-forwarded-for': `198.51.100.${i}` },
      });
      expect(res.statusCode).toBe(201);
    }
    expectLimited(
      (await anonymousSession(identity.app, { ip: spoofer, headers: { 'x-forwarded-for': '198.51.100.99' } }))
        .res,
    );
  });

  it('logs install ids only as a short hash', async () => {
    const installId = newInstallId();
    for (let i = 0; i < 5; i++) await anonymousSession(identity.app, { installId, ip: freshIp() });
    const text = identity.logs.text();
    expect(text).toContain('session issuance rate limited');
    expect(text).toContain(shortHash(installId));
    expect(text).not.toContain(installId);
    const limited = identity.logs
      .parsed()
      .find((l) => l.msg === 'session issuance rate limited' && l.install === shortHash(installId));
    expect(limited).toMatchObject({ scope: 'install_id', install: shortHash(installId) });
    const started = identity.logs
      .parsed()
      .filter((l) => l.msg === 'anonymous session started' && l.install === shortHash(installId));
    expect(started).toHaveLength(4);
  });

  it('maintenance forgets buckets idle long enough to be full again, and nothing else', async () => {
    const sql = identity.runtime.database.sql;
    const ip = freshIp();
    await anonymousSession(identity.app, { ip });
    const buckets = await sql<{ key: string }[]>`select key from identity.rate_limit_buckets`;
    expect(buckets.length).toBeGreaterThan(2);
    await sql`update identity.rate_limit_buckets set updated_at = now() - interval '121 seconds'
      where key = ${buckets[0]!.key}`;
    await sql`update identity.rate_limit_buckets set updated_at = now() - interval '119 seconds'
      where key = ${buckets[1]!.key}`;
    const pruned = await runMaintenance({
      maintenanceRepository: createMaintenanceRepository(identity.runtime.database),
      rateLimitRepository: createRateLimitRepository(identity.runtime.database),
      rateLimitWindowSeconds: 60,
      accessTokenTtlSeconds: 900,
    });
    expect(pruned).toEqual({ rate_limit_buckets: 1, sessions: 0, session_cutoffs: 0, erasures: 0 });
    const left = await sql<{ key: string }[]>`select key from identity.rate_limit_buckets`;
    expect(left.map((b) => b.key)).not.toContain(buckets[0]!.key);
    expect(left.map((b) => b.key)).toContain(buckets[1]!.key);
  });
});
