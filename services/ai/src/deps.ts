import { setTimeout as sleep } from 'node:timers/promises';
import type { JwksSource, TokenVerifier } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import { startUserPurgeConsumer } from '@offload/platform/erasure';
import type { Logger } from '@offload/platform/logger';
import type { Bus, RunningConsumer } from '@offload/platform/nats';
import {
  createBackgroundTasks,
  createServiceRuntime,
  type BackgroundTasks,
  type ServiceRuntime,
} from '@offload/platform/runtime';
import { natsUsageClient, type UsageClient } from './clients/usage-client.js';
import type { AiConfig } from './config.js';
import { inbox, outbox, schema, type AiSchema } from './db/schema.js';
import { createUserDataRepository } from './db/user-data-repository.js';
import { createInferenceLimiter, type InferenceLimiter } from './domain/inference-limiter.js';
import type { AiProvider } from './domain/provider.js';
import { reservationTtlMs } from './domain/quota.js';
import { RETRY_POLICY, type RetryClock, type RetryPolicy } from './domain/retry-policy.js';
import { createOpenAiProvider } from './providers/openai-provider.js';

export interface AiDeps {
  config: AiConfig;
  logger: Logger;
  database: Database<AiSchema>;
  bus: Bus;
  verifier: TokenVerifier;
  /** Undefined when no provider key is configured (the AI routes then answer 503). */
  provider: AiProvider | undefined;
  usage: UsageClient;
  limiter: InferenceLimiter;
  retryPolicy: RetryPolicy;
  retryClock: RetryClock;
  maxInputChars: number;
  reservationTtlMs: number;
  now: () => number;
  background: BackgroundTasks;
}

export interface AiRuntime extends AiDeps, ServiceRuntime<AiSchema> {
  consumers: RunningConsumer[];
}

/** Real waiting: a timer that a disconnecting client can cancel. */
export const systemRetryClock: RetryClock = {
  sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : {}),
  random: Math.random,
};

/** The composition root of the ai service: the one place that knows every concrete dependency. */
export async function createAiRuntime(
  config: AiConfig,
  overrides: { logger?: Logger; jwks?: JwksSource; retryClock?: RetryClock } = {},
): Promise<AiRuntime> {
  const runtime = await createServiceRuntime({
    service: 'ai',
    config,
    schema,
    // AI is ours to publish to; IDENTITY is where `identity.user.deleted` arrives from.
    streams: ['AI', 'IDENTITY'],
    logger: overrides.logger,
    jwks: overrides.jwks,
  });
  const { database, bus, logger } = runtime;
  const consumers = [
    // The ai part of every erasure (no user rows yet), confirmed with `ai.user.purged`.
    await startUserPurgeConsumer({
      service: 'ai',
      database,
      inbox,
      outbox,
      purge: createUserDataRepository().purge,
      bus,
      logger,
    }),
  ];
  const background = createBackgroundTasks();
  // Stopped on close before the relay and Postgres: pending records are written first.
  runtime.stopOnClose(...consumers, background);
  const provider = config.OPENAI_API_KEY
    ? createOpenAiProvider({
        apiKey: config.OPENAI_API_KEY,
        baseUrl: config.OPENAI_BASE_URL,
        model: config.OPENAI_MODEL,
        attemptTimeoutMs: config.OPENAI_ATTEMPT_TIMEOUT_MS,
      })
    : undefined;
  if (!provider) logger.warn('OPENAI_API_KEY is not set: AI routes answer 503 provider_unavailable');
  return {
    ...runtime,
    config,
    provider,
    usage: natsUsageClient(bus, { timeoutMs: config.USAGE_RPC_TIMEOUT_MS }),
    limiter: createInferenceLimiter({
      perInstall: config.AI_INFERENCE_LIMIT_PER_INSTALL,
      perIp: config.AI_INFERENCE_LIMIT_PER_IP,
      windowMs: config.AI_INFERENCE_WINDOW_MS,
    }),
    retryPolicy: RETRY_POLICY,
    retryClock: overrides.retryClock ?? systemRetryClock,
    maxInputChars: config.AI_MAX_INPUT_CHARS,
    reservationTtlMs: reservationTtlMs(
      config.OPENAI_ATTEMPT_TIMEOUT_MS,
      RETRY_POLICY.maxAttempts,
      RETRY_POLICY.maxTotalDelayMs,
    ),
    now: Date.now,
    background,
    consumers,
  };
}
