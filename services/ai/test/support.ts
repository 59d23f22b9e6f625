import { randomUUID } from 'node:crypto';
import {
  usageCommitRpc,
  usageReleaseRpc,
  usageReserveRpc,
  type ReserveRequest,
  type SettleResponse,
} from '@offload/contracts';
import { createLogger } from '@offload/platform/logger';
import { connectBus, serveRpc } from '@offload/platform/nats';
import { LogCapture, type ServiceModule, type TestApp, type TestInfra } from '@offload/testing';
import { buildAiApp } from '../src/app.js';
import { loadAiConfig, type AiConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createAiRuntime, type AiRuntime } from '../src/deps.js';

/** The ai service as `buildTestApp` builds it: the same pieces server.ts uses. */
export const aiService: ServiceModule<AiConfig, AiRuntime> = {
  name: 'ai',
  migrate,
  loadConfig: loadAiConfig,
  createRuntime: createAiRuntime,
  buildApp: buildAiApp,
};

export const BREAKDOWN_URL = '/v1/ai/breakdown/generate';

interface Hold {
  userId: string;
  installId: string;
  amount: number;
  state: 'held' | 'committed' | 'released';
}

/**
 * usage's reservation RPCs (libs/contracts rpc.ts) served on the test's NATS namespace by a small
 * responder that enforces a monthly quota per user: the other service replaced at its network boundary,
 * for tests of the ai service alone. Tests against the real usage service live in usage-integration.
 */
export async function startFakeUsage(infra: TestInfra, options: { quota?: number } = {}) {
  const logger = createLogger({ service: 'fake-usage', destination: new LogCapture() });
  const bus = await connectBus({ url: infra.natsUrl, name: 'fake-usage', prefix: infra.natsPrefix, logger });
  const holds = new Map<string, Hold>();
  const quotas = new Map<string, number>();
  const calls: { rpc: 'reserve' | 'commit' | 'release'; body: unknown }[] = [];
  const defaultQuota = options.quota ?? 100;

  const countOf = (userId: string, states: Hold['state'][]) =>
    [...holds.values()]
      .filter((h) => h.userId === userId && states.includes(h.state))
      .reduce((sum, h) => sum + h.amount, 0);

  // While set, reserves wait for it before answering (a slow usage service).
  let reservesPaused: Promise<void> | undefined;

  const reserve = async (req: ReserveRequest) => {
    calls.push({ rpc: 'reserve', body: req });
    await reservesPaused;
    if (req.resource.kind !== 'meter') throw new Error('fake usage only meters');
    const existing = holds.get(req.operation_id);
    const quota = quotas.get(req.user_id) ?? defaultQuota;
    const taken = countOf(req.user_id, ['held', 'committed']);
    if (existing)
      return { status: 'granted' as const, operation_id: req.operation_id, remaining: quota - taken };
    if (taken + req.amount > quota) {
      return {
        status: 'denied' as const,
        code: 'quota_exceeded' as const,
        remaining: Math.max(0, quota - taken),
      };
    }
    holds.set(req.operation_id, {
      userId: req.user_id,
      installId: req.resource.install_id,
      amount: req.amount,
      state: 'held',
    });
    return {
      status: 'granted' as const,
      operation_id: req.operation_id,
      remaining: quota - taken - req.amount,
    };
  };
  const settle =
    (rpc: 'commit' | 'release') =>
    async (req: { operation_id: string }): Promise<SettleResponse> => {
      calls.push({ rpc, body: req });
      const hold = holds.get(req.operation_id);
      if (!hold) return { status: 'unknown' };
      if (hold.state === 'held') {
        hold.state = rpc === 'commit' ? 'committed' : 'released';
        return { status: rpc === 'commit' ? 'committed' : 'released' };
      }
      return { status: hold.state === 'committed' ? 'already_committed' : 'already_released' };
    };

  let subs = [
    serveRpc(bus, usageReserveRpc, reserve, { queue: 'usage', logger }),
    serveRpc(bus, usageCommitRpc, settle('commit'), { queue: 'usage', logger }),
    serveRpc(bus, usageReleaseRpc, settle('release'), { queue: 'usage', logger }),
  ];
  await bus.nc.flush();

  return {
    calls,
    holds,
    setQuota: (userId: string, quota: number) => void quotas.set(userId, quota),
    /** Holds every reserve's answer until the returned function is called. */
    pauseReserves(): () => void {
      let resume!: () => void;
      reservesPaused = new Promise<void>((r) => (resume = r));
      return () => {
        reservesPaused = undefined;
        resume();
      };
    },
    /** Units charged to the user (committed holds). */
    committed: (userId: string) => countOf(userId, ['committed']),
    /** Units still held (neither committed nor released). */
    held: (userId: string) => countOf(userId, ['held']),
    released: (userId: string) => countOf(userId, ['released']),
    /** Stops answering, as if usage were down. */
    stop() {
      for (const sub of subs) sub.stop();
      subs = [];
    },
    async close() {
      for (const sub of subs) sub.stop();
      await bus.close();
    },
  };
}
export type FakeUsage = Awaited<ReturnType<typeof startFakeUsage>>;

/** A valid request body; override any field. */
export const breakdownBody = (overrides: Record<string, unknown> = {}) => ({
  input_text: 'Clean the garage before the weekend',
  granularity: 3,
  context_hints: ['I have two hours'],
  template_ids: ['cleaning'],
  ...overrides,
});

let ipCounter = 0;
/** A fresh client address per caller, so tests never share the per-IP inference limit. */
export const freshIp = () => {
  ipCounter++;
  return `198.51.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;
};

export interface Caller {
  userId: string;
  installId: string;
  ip: string;
  headers: Record<string, string>;
}

/** A user with a device-bound token, consent, and an address of their own. */
export async function caller(t: TestApp<AiRuntime>, overrides: Partial<Omit<Caller, 'headers'>> = {}) {
  const userId = overrides.userId ?? randomUUID();
  const installId = overrides.installId ?? `install-${randomUUID()}`;
  const ip = overrides.ip ?? freshIp();
  const { authorization } = await t.auth({ sub: userId, did: installId });
  return {
    userId,
    installId,
    ip,
    headers: { authorization, 'x-offload-cloud-opt-in': 'true', 'x-forwarded-for': ip },
  } satisfies Caller;
}

export function generate(
  t: TestApp<AiRuntime>,
  who: Caller,
  body: unknown = breakdownBody(),
  headers: Record<string, string | undefined> = {},
) {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...who.headers, ...headers })) if (v !== undefined) merged[k] = v;
  return t.app.inject({ method: 'POST', url: BREAKDOWN_URL, headers: merged, payload: body as object });
}
