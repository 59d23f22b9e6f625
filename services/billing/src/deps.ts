import type { JwksSource, TokenVerifier } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import { startUserPurgeConsumer } from '@offload/platform/erasure';
import type { Logger } from '@offload/platform/logger';
import type { Bus, RunningConsumer } from '@offload/platform/nats';
import { createServiceRuntime, type ServiceRuntime } from '@offload/platform/runtime';
import type { BillingConfig } from './config.js';
import { inbox, outbox, schema, type BillingSchema } from './db/schema.js';
import { createUserDataRepository } from './db/user-data-repository.js';

export interface BillingDeps {
  config: BillingConfig;
  logger: Logger;
  database: Database<BillingSchema>;
  bus: Bus;
  verifier: TokenVerifier;
}

export interface BillingRuntime extends BillingDeps, ServiceRuntime<BillingSchema> {
  consumers: RunningConsumer[];
}

/** The composition root of the billing service: the one place that knows every concrete dependency. */
export async function createBillingRuntime(
  config: BillingConfig,
  overrides: { logger?: Logger; jwks?: JwksSource } = {},
): Promise<BillingRuntime> {
  const runtime = await createServiceRuntime({
    service: 'billing',
    config,
    schema,
    // BILLING is ours to publish to; IDENTITY is where `identity.user.deleted` arrives from.
    streams: ['BILLING', 'IDENTITY'],
    logger: overrides.logger,
    jwks: overrides.jwks,
  });
  const { database, bus, logger } = runtime;
  const consumers = [
    // The billing part of every erasure (no user rows yet), confirmed with `billing.user.purged`.
    await startUserPurgeConsumer({
      service: 'billing',
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
