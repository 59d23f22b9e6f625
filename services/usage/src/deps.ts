import type { JwksSource, TokenVerifier } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import { startUserPurgeConsumer } from '@offload/platform/erasure';
import type { Logger } from '@offload/platform/logger';
import type { Bus, RunningConsumer } from '@offload/platform/nats';
import { createServiceRuntime, type ServiceRuntime } from '@offload/platform/runtime';
import type { UsageConfig } from './config.js';
import { createCreditLedgerRepository, type CreditLedgerRepository } from './db/credit-ledger-repository.js';
import { createMeterRepository, type MeterRepository } from './db/meter-repository.js';
import { createReservationRepository, type ReservationRepository } from './db/reservation-repository.js';
import { inbox, outbox, schema, type UsageSchema } from './db/schema.js';
import { createUserDataRepository, type UserDataRepository } from './db/user-data-repository.js';
import type { QuotaPolicy } from './domain/quota.js';
import { startUserCreatedConsumer } from './events/consumers/user-created.js';
import { startReservationSweeper, type ReservationSweeper } from './jobs/reservation-sweeper.js';
import { serveReservationRpcs } from './rpc/reservations.js';

export interface UsageDeps {
  config: UsageConfig;
  logger: Logger;
  database: Database<UsageSchema>;
  bus: Bus;
  verifier: TokenVerifier;
  creditLedger: CreditLedgerRepository;
  meterRepository: MeterRepository;
  reservationRepository: ReservationRepository;
  quotas: QuotaPolicy;
}

export interface UsageRuntime extends UsageDeps, ServiceRuntime<UsageSchema> {
  userDataRepository: UserDataRepository;
  consumers: RunningConsumer[];
  sweeper: ReservationSweeper;
}

/** The composition root of the usage service: the one place that knows every concrete dependency. */
export async function createUsageRuntime(
  config: UsageConfig,
  overrides: { logger?: Logger; jwks?: JwksSource } = {},
): Promise<UsageRuntime> {
  const runtime = await createServiceRuntime({
    service: 'usage',
    config,
    schema,
    // USAGE is ours to publish to; IDENTITY is where `identity.user.created` and `.deleted` arrive from.
    streams: ['USAGE', 'IDENTITY'],
    logger: overrides.logger,
    jwks: overrides.jwks,
  });
  const { database, bus, logger } = runtime;
  const creditLedger = createCreditLedgerRepository(database);
  const meterRepository = createMeterRepository(database);
  const reservationRepository = createReservationRepository(database);
  const userDataRepository = createUserDataRepository();
  const quotas: QuotaPolicy = { free: config.FREE_MONTHLY_AI_ACTIONS, pro: config.PRO_MONTHLY_AI_ACTIONS };
  const consumers = [
    await startUserCreatedConsumer({
      database,
      creditLedger,
      userDataRepository,
      bus,
      logger,
      ackWaitMs: config.CONSUMER_ACK_WAIT_MS,
    }),
    // The usage part of every erasure: meters, credits and reservations, confirmed with `usage.user.purged`.
    await startUserPurgeConsumer({
      service: 'usage',
      database,
      inbox,
      outbox,
      purge: userDataRepository.purge,
      bus,
      logger,
      ackWaitMs: config.CONSUMER_ACK_WAIT_MS,
    }),
  ];
  const rpcs = serveReservationRpcs({
    database,
    bus,
    logger,
    creditLedger,
    reservationRepository,
    quotas,
  });
  const sweeper = startReservationSweeper({
    reservationRepository,
    userDataRepository,
    database,
    logger,
    intervalMs: config.RESERVATION_SWEEP_MS,
    retentionDays: config.RESERVATION_RETENTION_DAYS,
  });
  runtime.stopOnClose(...consumers);
  runtime.stopOnClose(rpcs, sweeper);
  return {
    ...runtime,
    config,
    userDataRepository,
    creditLedger,
    meterRepository,
    reservationRepository,
    quotas,
    consumers,
    sweeper,
  };
}
