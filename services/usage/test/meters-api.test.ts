import { createHash, randomUUID } from 'node:crypto';
import { newId, ReconcileResponse, UsageMeterPage, UsageQuotaExhausted } from '@offload/contracts';
import { buildTestApp, type TestApp } from '@offload/testing';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meters, outbox } from '../src/db/schema.js';
import type { UsageRuntime } from '../src/deps.js';
import { periodOf } from '../src/domain/period.js';
import { reconcileUsage } from '../src/use-cases/reconcile-usage.js';
import { usageService } from './support.js';

let t: TestApp<UsageRuntime>;

beforeAll(async () => {
  t = await buildTestApp(usageService);
});

afterAll(async () => {
  await t?.close();
});

const FEATURE = 'ai_breakdown';
const newInstallId = () => `install-${randomUUID()}`;

/** A device of a user: its token (`did` = install id) and a reconcile helper. */
async function device(options: { userId?: string; installId?: string; tier?: 'free' | 'pro' } = {}) {
  const userId = options.userId ?? newId();
  const installId = options.installId ?? newInstallId();
  const headers = await t.auth({ sub: userId, did: installId, tier: options.tier ?? 'free' });
  const reconcile = (payload: Record<string, unknown>) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/usage/reconcile',
      headers,
      payload: { install_id: installId, feature: FEATURE, ...payload },
    });
  return { userId, installId, headers, reconcile };
}

const storedRows = (userId: string) =>
  t.runtime.database.db.select().from(meters).where(eq(meters.userId, userId));

const exhaustedEventsOf = async (userId: string) =>
  (await t.runtime.database.db.select().from(outbox).where(eq(outbox.type, 'usage.quota.exhausted')))
    .map((row) => UsageQuotaExhausted.parse(row.payload))
    .filter((event) => event.data.user_id === userId);

describe('POST /v1/usage/reconcile', () => {
  it('answers the exact contract: server_count, effective_remaining, reconciled_at', async () => {
    const d = await device();
    const before = Date.now();
    const res = await d.reconcile({ local_count: 7 });
    expect(res.statusCode).toBe(200);
    const body = ReconcileResponse.strict().parse(res.json());
    expect(body).toMatchObject({ server_count: 7, effective_remaining: 93 });
    expect(Date.parse(body.reconciled_at)).toBeGreaterThanOrEqual(before - 1);
    expect(body.reconciled_at).toMatch(/Z$/);
  });

  it('leaves exactly the maximum after 50 concurrent reconciles with random local counts', async () => {
    const d = await device();
    const counts = Array.from({ length: 50 }, () => Math.floor(Math.random() * 1000));
    const answers = await Promise.all(counts.map((local_count) => d.reconcile({ local_count })));
    expect(answers.every((r) => r.statusCode === 200)).toBe(true);
    const max = Math.max(...counts);
    // Every answer saw a count between its own and the maximum, never more.
    answers.forEach((r, i) => {
      expect(r.json().server_count).toBeGreaterThanOrEqual(counts[i]!);
      expect(r.json().server_count).toBeLessThanOrEqual(max);
    });
    const rows = await storedRows(d.userId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.count).toBe(max);
    const after = await d.reconcile({ local_count: 0 });
    expect(after.json().server_count).toBe(max);
  });

  it('never lowers a count: a lower or zero local count leaves the stored one', async () => {
    const d = await device();
    expect((await d.reconcile({ local_count: 10 })).json().server_count).toBe(10);
    expect((await d.reconcile({ local_count: 3 })).json().server_count).toBe(10);
    expect((await d.reconcile({ local_count: 0 })).json().server_count).toBe(10);
    expect((await d.reconcile({ local_count: 11 })).json().server_count).toBe(11);
    expect((await storedRows(d.userId))[0]!.count).toBe(11);
  });

  it('adds up two devices of one user, and keeps other users apart', async () => {
    const phone = await device();
    const tablet = await device({ userId: phone.userId });
    const stranger = await device();
    expect((await phone.reconcile({ local_count: 7 })).json()).toMatchObject({
      server_count: 7,
      effective_remaining: 93,
    });
    expect((await tablet.reconcile({ local_count: 5 })).json()).toMatchObject({
      server_count: 12,
      effective_remaining: 88,
    });
    // Replaying the phone's lower count changes nothing; the total stays the sum of both maxima.
    expect((await phone.reconcile({ local_count: 2 })).json().server_count).toBe(12);
    expect((await stranger.reconcile({ local_count: 1 })).json().server_count).toBe(1);
    expect(await storedRows(phone.userId)).toHaveLength(2);
  });

  it('keeps features apart', async () => {
    const d = await device();
    await d.reconcile({ local_count: 4 });
    const other = await d.reconcile({ feature: 'ai_chat', local_count: 9 });
    expect(other.json().server_count).toBe(9);
    expect((await d.reconcile({ local_count: 0 })).json().server_count).toBe(4);
  });

  it('stores only the SHA-256 of the install id, and never logs the id', async () => {
    const d = await device();
    await d.reconcile({ local_count: 1 });
    const [row] = await storedRows(d.userId);
    expect(row!.installIdHash).toBe(createHash('sha256').update(d.installId).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(d.installId);
    expect(t.logs.text()).not.toContain(d.installId);
  });

  it('answers 403 install_id_mismatch when the body names another device, storing nothing', async () => {
    const d = await device();
    const res = await d.reconcile({ install_id: newInstallId(), local_count: 5 });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toMatchObject({ code: 'install_id_mismatch', request_id: expect.any(String) });
    expect(await storedRows(d.userId)).toHaveLength(0);
  });

  it('answers 403 install_id_mismatch for a token bound to no device', async () => {
    const userId = newId();
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/usage/reconcile',
      headers: await t.auth({ sub: userId, did: undefined }),
      payload: { install_id: newInstallId(), feature: FEATURE, local_count: 1 },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('install_id_mismatch');
  });

  it('answers 401 without a token', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/usage/reconcile',
      payload: { install_id: newInstallId(), feature: FEATURE, local_count: 1 },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
  });

  describe('limits', () => {
    const expect422 = (res: { statusCode: number; json(): { error: { code: string } } }) => {
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('validation_error');
    };

    it('takes a feature of 64 characters and refuses 65 and the empty string', async () => {
      const d = await device();
      expect((await d.reconcile({ feature: 'f'.repeat(64), local_count: 1 })).statusCode).toBe(200);
      expect422(await d.reconcile({ feature: 'f'.repeat(65), local_count: 1 }));
      expect422(await d.reconcile({ feature: '', local_count: 1 }));
    });

    it('refuses a feature that is not an identifier (free text never reaches storage or events)', async () => {
      const d = await device();
      expect422(await d.reconcile({ feature: 'my secret note', local_count: 1 }));
      expect422(await d.reconcile({ feature: '_leading', local_count: 1 }));
      expect((await d.reconcile({ feature: 'Offload.ai-breakdown:v2', local_count: 1 })).statusCode).toBe(
        200,
      );
    });

    it('takes an install id of 8 and 128 characters and refuses 7 and 129', async () => {
      for (const length of [8, 128]) {
        const d = await device({ installId: 'i'.repeat(length) });
        expect((await d.reconcile({ local_count: 1 })).statusCode).toBe(200);
      }
      for (const length of [7, 129]) {
        const d = await device({ installId: 'i'.repeat(length) });
        expect422(await d.reconcile({ local_count: 1 }));
      }
    });

    it('takes local_count 0 and 1000000 and refuses -1, 1000001, a fraction and a string', async () => {
      const d = await device();
      expect((await d.reconcile({ local_count: 0 })).statusCode).toBe(200);
      expect((await d.reconcile({ local_count: 1_000_000 })).json().server_count).toBe(1_000_000);
      expect422(await d.reconcile({ local_count: -1 }));
      expect422(await d.reconcile({ local_count: 1_000_001 }));
      expect422(await d.reconcile({ local_count: 1.5 }));
      expect422(await d.reconcile({ local_count: '3' }));
    });

    it('refuses an unknown field, a missing field and a since that is not a timestamp', async () => {
      const d = await device();
      const unknown = await d.reconcile({ local_count: 1, extra: true });
      expect422(unknown);
      expect(JSON.stringify(unknown.json().error.details)).toContain('extra');
      expect422(
        await t.app.inject({
          method: 'POST',
          url: '/v1/usage/reconcile',
          headers: d.headers,
          payload: { install_id: d.installId, local_count: 1 },
        }),
      );
      expect422(await d.reconcile({ local_count: 1, since: 'yesterday' }));
      expect(await storedRows(d.userId)).toHaveLength(0);
    });
  });

  it('applies a count whose since is this month (offsets accepted), not one that began last month', async () => {
    const d = await device();
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    const stale = await d.reconcile({ local_count: 40, since: lastMonth.toISOString() });
    expect(stale.statusCode).toBe(200);
    expect(stale.json()).toMatchObject({ server_count: 0, effective_remaining: 100 });
    expect(await storedRows(d.userId)).toHaveLength(0);
    const current = await d.reconcile({
      local_count: 6,
      since: monthStart.toISOString().replace('Z', '+00:00'),
    });
    expect(current.json()).toMatchObject({ server_count: 6, effective_remaining: 94 });
  });

  it('counts effective_remaining down to 0 at the free quota and never below, 1000 for pro', async () => {
    const free = await device();
    expect((await free.reconcile({ local_count: 99 })).json()).toMatchObject({ effective_remaining: 1 });
    expect((await free.reconcile({ local_count: 100 })).json()).toMatchObject({
      server_count: 100,
      effective_remaining: 0,
    });
    expect((await free.reconcile({ local_count: 130 })).json()).toMatchObject({
      server_count: 130,
      effective_remaining: 0,
    });
    const pro = await device({ tier: 'pro' });
    expect((await pro.reconcile({ local_count: 130 })).json()).toMatchObject({ effective_remaining: 870 });
  });

  it('announces usage.quota.exhausted once, when the total reaches the quota', async () => {
    const phone = await device();
    const tablet = await device({ userId: phone.userId });
    await phone.reconcile({ local_count: 60 });
    expect(await exhaustedEventsOf(phone.userId)).toHaveLength(0);
    await tablet.reconcile({ local_count: 39 });
    expect(await exhaustedEventsOf(phone.userId)).toHaveLength(0);
    await tablet.reconcile({ local_count: 40 });
    await Promise.all([phone.reconcile({ local_count: 70 }), tablet.reconcile({ local_count: 45 })]);
    const events = await exhaustedEventsOf(phone.userId);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual({
      user_id: phone.userId,
      feature: FEATURE,
      period: periodOf(new Date()),
      quota: 100,
      used: 100,
    });
    expect(JSON.stringify(events[0])).not.toContain(phone.installId);
  });

  it('starts a new meter at 00:00 UTC on the 1st, across a year boundary too', async () => {
    const d = await device();
    const user = { userId: d.userId, installId: d.installId, tier: 'free' as const };
    const request = { install_id: d.installId, feature: FEATURE };
    const dec = await reconcileUsage(t.runtime, {
      user,
      request: { ...request, local_count: 80 },
      now: new Date('2026-12-31T23:59:59.999Z'),
    });
    const jan = await reconcileUsage(t.runtime, {
      user,
      request: { ...request, local_count: 3 },
      now: new Date('2027-01-01T00:00:00.000Z'),
    });
    expect(dec).toMatchObject({ server_count: 80, effective_remaining: 20 });
    expect(jan).toMatchObject({ server_count: 3, effective_remaining: 97 });
    const rows = await t.runtime.database.db
      .select({ period: meters.period, count: meters.count })
      .from(meters)
      .where(and(eq(meters.userId, d.userId), eq(meters.feature, FEATURE)));
    expect(rows.sort((a, b) => a.period.localeCompare(b.period))).toEqual([
      { period: '2026-12', count: 80 },
      { period: '2027-01', count: 3 },
    ]);
  });
});

describe('GET /v1/usage', () => {
  it('lists every meter per feature and month, newest month first, with devices counted, not named', async () => {
    const phone = await device();
    const tablet = await device({ userId: phone.userId });
    await phone.reconcile({ local_count: 7 });
    await tablet.reconcile({ local_count: 5 });
    await phone.reconcile({ feature: 'ai_chat', local_count: 2 });
    const user = { userId: phone.userId, installId: phone.installId, tier: 'free' as const };
    await reconcileUsage(t.runtime, {
      user,
      request: { install_id: phone.installId, feature: FEATURE, local_count: 100 },
      now: new Date('2025-01-15T00:00:00Z'),
    });
    await (await device()).reconcile({ local_count: 50 }); // another user's meter stays out

    const res = await t.app.inject({ method: 'GET', url: '/v1/usage', headers: phone.headers });
    expect(res.statusCode).toBe(200);
    const body = UsageMeterPage.parse(res.json());
    const period = periodOf(new Date());
    expect(body).toEqual({
      data: [
        {
          feature: 'ai_breakdown',
          period,
          device_count: 2,
          server_count: 12,
          quota: 100,
          effective_remaining: 88,
        },
        { feature: 'ai_chat', period, device_count: 1, server_count: 2, quota: 100, effective_remaining: 98 },
        {
          feature: 'ai_breakdown',
          period: '2025-01',
          device_count: 1,
          server_count: 100,
          quota: 100,
          effective_remaining: 0,
        },
      ],
      next_cursor: null,
    });
    const hash = createHash('sha256').update(phone.installId).digest('hex');
    expect(res.body).not.toContain(phone.installId);
    expect(res.body).not.toContain(hash.slice(0, 8));
  });

  it('pages with limit and cursor, and refuses a forged cursor', async () => {
    const d = await device();
    for (const feature of ['a1', 'a2', 'a3']) await d.reconcile({ feature, local_count: 1 });
    const page1 = await t.app.inject({ method: 'GET', url: '/v1/usage?limit=2', headers: d.headers });
    expect(page1.json().data.map((m: { feature: string }) => m.feature)).toEqual(['a1', 'a2']);
    const cursor = page1.json().next_cursor;
    expect(cursor).toEqual(expect.any(String));
    const page2 = await t.app.inject({
      method: 'GET',
      url: `/v1/usage?limit=2&cursor=${cursor}`,
      headers: d.headers,
    });
    expect(page2.json()).toMatchObject({ data: [{ feature: 'a3' }], next_cursor: null });

    const forged = await t.app.inject({ method: 'GET', url: '/v1/usage?cursor=bm9wZQ', headers: d.headers });
    expect(forged.statusCode).toBe(422);
    expect(forged.json().error.code).toBe('validation_error');
    const tooMany = await t.app.inject({ method: 'GET', url: '/v1/usage?limit=101', headers: d.headers });
    expect(tooMany.statusCode).toBe(422);
    const unknown = await t.app.inject({ method: 'GET', url: '/v1/usage?install_id=x', headers: d.headers });
    expect(unknown.statusCode).toBe(422);
  });

  it('answers an empty list for a user without meters, and the pro quota for a pro token', async () => {
    const empty = await t.app.inject({ method: 'GET', url: '/v1/usage', headers: await t.auth() });
    expect(empty.json()).toEqual({ data: [], next_cursor: null });
    const pro = await device({ tier: 'pro' });
    await pro.reconcile({ local_count: 10 });
    const res = await t.app.inject({ method: 'GET', url: '/v1/usage', headers: pro.headers });
    expect(res.json().data[0]).toMatchObject({ quota: 1000, effective_remaining: 990 });
  });

  it('answers 401 without a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/usage' });
    expect(res.statusCode).toBe(401);
  });
});

describe('OpenAPI', () => {
  it('documents the meter routes', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = res.json().paths;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/v1/usage/reconcile', '/v1/usage']));
    expect(paths['/v1/usage/reconcile'].post.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['install_id', 'feature', 'local_count']),
    );
  });
});
