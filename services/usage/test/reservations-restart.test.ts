import { randomUUID } from 'node:crypto';
import { newId, usageCommitRpc, usageReserveRpc, type ReserveRequest } from '@offload/contracts';
import type { App } from '@offload/platform/http';
import { createLogger } from '@offload/platform/logger';
import { callRpc, connectBus, type Bus } from '@offload/platform/nats';
import { createTestInfra, createTestSigner, LogCapture, type TestInfra } from '@offload/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUsageApp } from '../src/app.js';
import { loadUsageConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createUsageRuntime, type UsageRuntime } from '../src/deps.js';
import { reconcileUsage } from '../src/use-cases/reconcile-usage.js';

/**
 * Counts and holds live in Postgres, not in a process: they survive a restart of the usage runtime, and
 * two replicas answering the same queue group still let no more through than the quota.
 */

let infra: TestInfra;
let signer: Awaited<ReturnType<typeof createTestSigner>>;
let client: Bus;
interface Started {
  runtime: UsageRuntime;
  app: App;
  logs: LogCapture;
}
const open: Started[] = [];

const quiet = () => createLogger({ service: 'usage', destination: new LogCapture() });

async function startUsage(): Promise<Started> {
  const logs = new LogCapture();
  const runtime = await createUsageRuntime(
    loadUsageConfig({
      DATABASE_URL: infra.databaseUrl,
      NATS_URL: infra.natsUrl,
      NATS_SUBJECT_PREFIX: infra.natsPrefix,
    }),
    { logger: createLogger({ service: 'usage', destination: logs }), jwks: signer.jwks },
  );
  const app = await buildUsageApp(runtime);
  const started = { runtime, app, logs };
  open.push(started);
  return started;
}

async function stopUsage(started: Started) {
  await started.app.close();
  await started.runtime.close();
  open.splice(open.indexOf(started), 1);
}

beforeAll(async () => {
  infra = await createTestInfra();
  await migrate(infra.databaseUrl);
  signer = await createTestSigner();
  client = await connectBus({
    url: infra.natsUrl,
    name: 'usage-test-client',
    prefix: infra.natsPrefix,
    logger: quiet(),
  });
});

afterAll(async () => {
  for (const started of [...open]) await stopUsage(started);
  await client?.close();
  await infra?.cleanup();
});

const FEATURE = 'ai_breakdown';

function userOf() {
  const userId = newId();
  const installId = `install-${randomUUID()}`;
  const request = (overrides: Partial<ReserveRequest> = {}): ReserveRequest => ({
    operation_id: newId(),
    user_id: userId,
    tier: 'free',
    resource: { kind: 'meter', feature: FEATURE, install_id: installId },
    amount: 1,
    ttl_ms: 60_000,
    ...overrides,
  });
  return { userId, installId, request };
}

const reserve = (request: ReserveRequest, timeoutMs = 10_000) =>
  callRpc(client, usageReserveRpc, request, { timeoutMs });
const commit = (operation_id: string) =>
  callRpc(client, usageCommitRpc, { operation_id }, { timeoutMs: 10_000 });

describe('usage runtime restart', () => {
  it('keeps committed counts, live holds and first answers across a restart', async () => {
    const first = await startUsage();
    const u = userOf();
    await reconcileUsage(first.runtime, {
      user: { userId: u.userId, installId: u.installId, tier: 'free' },
      request: { install_id: u.installId, feature: FEATURE, local_count: 98 },
    });
    const committed = u.request();
    const committedAnswer = await reserve(committed);
    expect(committedAnswer).toMatchObject({ status: 'granted', remaining: 1 });
    expect(await commit(committed.operation_id)).toEqual({ status: 'committed' });
    const held = u.request();
    expect(await reserve(held)).toMatchObject({ status: 'granted', remaining: 0 });

    await stopUsage(first);
    // Nobody answers while the service is down: the caller gets an error, not a grant.
    await expect(reserve(u.request(), 500)).rejects.toMatchObject({ code: 'service_unavailable' });

    const second = await startUsage();
    // 98 reconciled + 1 committed survived; the hold made before the restart still counts.
    expect(await reserve(u.request())).toEqual({ status: 'denied', code: 'quota_exceeded', remaining: 0 });
    expect(await reserve(committed)).toEqual(committedAnswer);
    expect(await commit(committed.operation_id)).toEqual({ status: 'already_committed' });
    expect(await commit(held.operation_id)).toEqual({ status: 'committed' });

    const res = await second.app.inject({
      method: 'GET',
      url: '/v1/usage',
      headers: { authorization: `Bearer ${await signer.token({ sub: u.userId, did: u.installId })}` },
    });
    expect(res.json().data).toEqual([
      expect.objectContaining({
        feature: FEATURE,
        device_count: 1,
        server_count: 100,
        effective_remaining: 0,
      }),
    ]);
    await stopUsage(second);
  });

  it('lets exactly one of 50 parallel reserves through at 99 used with two replicas serving', async () => {
    const a = await startUsage();
    const b = await startUsage();
    const u = userOf();
    await reconcileUsage(a.runtime, {
      user: { userId: u.userId, installId: u.installId, tier: 'free' },
      request: { install_id: u.installId, feature: FEATURE, local_count: 99 },
    });
    const answers = await Promise.all(Array.from({ length: 50 }, () => reserve(u.request())));
    expect(answers.filter((x) => x.status === 'granted')).toHaveLength(1);
    expect(answers.filter((x) => x.status === 'denied')).toHaveLength(49);
    // Both replicas answered some of them (one queue group, load-balanced by NATS).
    const handled = (s: Started) => s.logs.parsed().filter((l) => l.msg === 'reservation handled').length;
    expect(handled(a)).toBeGreaterThan(0);
    expect(handled(b)).toBeGreaterThan(0);
    expect(handled(a) + handled(b)).toBe(50);
    await stopUsage(a);
    await stopUsage(b);
  });
});
