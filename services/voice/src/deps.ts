import type { JwksSource, TokenVerifier } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import { startUserPurgeConsumer } from '@offload/platform/erasure';
import type { Logger } from '@offload/platform/logger';
import type { Bus, RunningConsumer } from '@offload/platform/nats';
import { createServiceRuntime, type ServiceRuntime } from '@offload/platform/runtime';
import type { VoiceConfig } from './config.js';
import { inbox, outbox, schema, type VoiceSchema } from './db/schema.js';
import { createUserDataRepository } from './db/user-data-repository.js';

export interface VoiceDeps {
  config: VoiceConfig;
  logger: Logger;
  database: Database<VoiceSchema>;
  bus: Bus;
  verifier: TokenVerifier;
}

export interface VoiceRuntime extends VoiceDeps, ServiceRuntime<VoiceSchema> {
  consumers: RunningConsumer[];
}

/** The composition root of the voice service: the one place that knows every concrete dependency. */
export async function createVoiceRuntime(
  config: VoiceConfig,
  overrides: { logger?: Logger; jwks?: JwksSource } = {},
): Promise<VoiceRuntime> {
  const runtime = await createServiceRuntime({
    service: 'voice',
    config,
    schema,
    // VOICE is ours to publish to; IDENTITY is where `identity.user.deleted` arrives from.
    streams: ['VOICE', 'IDENTITY'],
    logger: overrides.logger,
    jwks: overrides.jwks,
  });
  const { database, bus, logger } = runtime;
  const consumers = [
    // The voice part of every erasure (no user rows yet), confirmed with `voice.user.purged`.
    await startUserPurgeConsumer({
      service: 'voice',
      database,
      inbox,
      outbox,
      purge: createUserDataRepository().purge,
      bus,
      logger,
    }),
  ];
  runtime.stopOnClose(...consumers);
  return { ...runtime, config, consumers };
}
