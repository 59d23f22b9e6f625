import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UsageCreditsGranted } from '@offload/contracts';
import { createDatabase, type Database } from '@offload/platform/db';
import type { App } from '@offload/platform/http';
import { createLogger } from '@offload/platform/logger';
import { connectBus, ensureStreams, publishEvent, type Bus } from '@offload/platform/nats';
import {
  createTestInfra,
  createTestSigner,
  eventually,
  LogCapture,
  startNatsFaultProxy,
  type NatsFaultProxy,
  type TestInfra,
} from '@offload/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUsageApp } from '../src/app.js';
import { loadUsageConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { creditLedger, inbox, outbox, schema, type UsageSchema } from '../src/db/schema.js';
import { createUsageRuntime, type UsageRuntime } from '../src/deps.js';
import { KICKSTART_CONSUMER } from '../src/events/consumers/user-created.js';
import { userCreated } from './support.js';

/**
 * DESIGN 12: "a crash after effect before ack loses no event and applies none twice". The usage service
 * runs as a real process (its server.ts) behind a NATS proxy that swallows its JetStream acks, so the
 * grant commits and the ack never reaches NATS; the process is then SIGKILLed, a fresh runtime starts
 * against NATS directly, JetStream redelivers, and the inbox makes the redelivery a no-op.
 */

const ACK_WAIT_MS = 1_500;
const serverEntry = fileURLToPath(new URL('../src/server.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

let infra: TestInfra;
let proxy: NatsFaultProxy;
let observer: Bus;
let database: Database<UsageSchema>;
let child: ChildProcess | undefined;
let runtime: UsageRuntime | undefined;
let app: App | undefined;

beforeAll(async () => {
  infra = await createTestInfra();
  await migrate(infra.databaseUrl);
  proxy = await startNatsFaultProxy({ target: infra.natsUrl });
  observer = await connectBus({
    url: infra.natsUrl,
    name: 'usage-test-observer',
    prefix: infra.natsPrefix,
    logger: createLogger({ service: 'test', destination: new LogCapture() }),
  });
  await ensureStreams(observer, ['IDENTITY', 'USAGE']);
  database = createDatabase({ url: infra.databaseUrl, schema: 'usage' }, schema);
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await app?.close();
  await runtime?.close();
  await observer?.close();
  await proxy?.close();
  await database?.close();
  await infra?.cleanup();
});

/** Starts `src/server.ts` as its own process and collects its JSON log lines. */
function startUsageProcess(env: Record<string, string>) {
  const lines: Record<string, unknown>[] = [];
  const errors: string[] = [];
  const proc = spawn(process.execPath, ['--import', 'tsx', serverEntry], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.trim()) continue;
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        errors.push(part);
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => errors.push(chunk));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    proc.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  return { proc, lines, errors, exited };
}

const consumerInfo = () => observer.jsm.consumers.info(observer.stream('IDENTITY'), KICKSTART_CONSUMER);

describe('usage consumer killed after granting, before acking', () => {
  it('leaves exactly 5 credits after a restart and a redelivery', async () => {
    // 1. The usage service as a process, connected through the proxy, whose acks never arrive.
    proxy.dropAcks(true);
    const first = startUsageProcess({
      DATABASE_URL: infra.databaseUrl,
      NATS_URL: proxy.url,
      NATS_SUBJECT_PREFIX: infra.natsPrefix,
      CONSUMER_ACK_WAIT_MS: String(ACK_WAIT_MS),
      PORT: '0',
      LOG_LEVEL: 'info',
    });
    child = first.proc;
    await eventually(async () => first.lines.some((l) => l.msg === 'listening'), 30_000, 100).catch(
      (error: Error) => {
        throw new Error(`${error.message}; child output: ${first.errors.join('').slice(0, 2000)}`);
      },
    );

    // 2. A user is created; the process grants, commits, and acks into the void.
    const event = userCreated();
    const userId = event.data.user_id;
    await publishEvent(observer, event);
    await eventually(async () => {
      const rows = await database.db.select().from(creditLedger).where(eq(creditLedger.userId, userId));
      return rows.length === 1;
    });
    await eventually(async () => proxy.stats.acksDropped >= 1);
    // Its log line crosses a pipe: it may arrive after the effect is visible and the ack was dropped.
    await eventually(async () =>
      first.lines.some((l) => l.event_id === event.id && l.delivery === 1 && l.outcome === 'granted'),
    );
    const pending = await consumerInfo();
    expect(pending.num_ack_pending).toBe(1);
    const streamSeq = pending.delivered.stream_seq;
    expect(pending.ack_floor.stream_seq).toBeLessThan(streamSeq);

    // 3. Killed before anything acknowledged the message.
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    // 4. A fresh runtime, straight to NATS, receives the redelivery and changes nothing.
    const logs = new LogCapture();
    const signer = await createTestSigner();
    runtime = await createUsageRuntime(
      loadUsageConfig({
        DATABASE_URL: infra.databaseUrl,
        NATS_URL: infra.natsUrl,
        NATS_SUBJECT_PREFIX: infra.natsPrefix,
        CONSUMER_ACK_WAIT_MS: String(ACK_WAIT_MS),
      }),
      { logger: createLogger({ service: 'usage', destination: logs }), jwks: signer.jwks },
    );
    app = await buildUsageApp(runtime);

    const redelivered = await eventually(
      async () =>
        logs
          .parsed()
          .find(
            (l) =>
              l.msg === 'kickstart credits handled' &&
              l.event_id === event.id &&
              l.durable === KICKSTART_CONSUMER,
          ),
      15_000,
    );
    expect(redelivered).toMatchObject({ outcome: 'duplicate_event' });
    expect(redelivered.delivery).toBeGreaterThanOrEqual(2);
    // The redelivery was acknowledged: nothing pending, the ack floor moved past the message.
    const settled = await eventually(async () => {
      const info = await consumerInfo();
      return info.num_ack_pending === 0 && info.ack_floor.stream_seq >= streamSeq ? info : undefined;
    });
    expect(settled.num_ack_pending).toBe(0);

    // 5. Exactly one grant, one inbox row, one event, and a balance of 5.
    const ledger = await database.db.select().from(creditLedger).where(eq(creditLedger.userId, userId));
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ kind: 'kickstart', amount: 5, sourceEventId: event.id });
    expect(await database.db.select().from(inbox).where(eq(inbox.eventId, event.id))).toHaveLength(1);
    const grants = (
      await database.db.select().from(outbox).where(eq(outbox.type, 'usage.credits.granted'))
    ).filter((row) => UsageCreditsGranted.parse(row.payload).data.user_id === userId);
    expect(grants).toHaveLength(1);
    const balance = await app.inject({
      method: 'GET',
      url: '/v1/credits/balance',
      headers: { authorization: `Bearer ${await signer.token({ sub: userId })}` },
    });
    expect(balance.statusCode).toBe(200);
    expect(balance.json()).toMatchObject({ kickstart: 5, total: 5 });
  });
});
