import type { StreamName } from '@offload/contracts';
import {
  createRevocationList,
  createTokenVerifier,
  natsJwksSource,
  type JwksSource,
  type RevocationList,
  type TokenVerifier,
} from '../auth/index.js';
import { createDatabase, type Database } from '../db/index.js';
import { createLogger, type Logger } from '../logger/index.js';
import { connectBus, ensureStreams, type Bus } from '../nats/index.js';
import { startOutboxRelay, type OutboxRelay } from '../outbox/index.js';

/** The part of a service's config (`baseServiceEnv`) the shared runtime reads. */
export interface ServiceRuntimeConfig {
  LOG_LEVEL: string;
  DATABASE_URL: string;
  NATS_URL: string;
  NATS_SUBJECT_PREFIX: string;
}

export interface ServiceRuntimeOptions<TSchema extends Record<string, unknown>> {
  /** The service name: its logger's `service`, its Postgres schema, its NATS connection and relay. */
  service: string;
  config: ServiceRuntimeConfig;
  /** The service's drizzle schema (tables and relations). */
  schema: TSchema;
  /** The streams the service publishes to or consumes from (the dead-letter stream is added). */
  streams: StreamName[];
  /** Replaces the service's own logger (tests capture lines). */
  logger?: Logger;
  /** Replaces the signing keys from identity over NATS (tests sign their own tokens). */
  jwks?: JwksSource;
}

/** Anything `close()` has to stop: a consumer, an RPC handler, a job. */
export interface Stoppable {
  stop(): unknown;
}

/** The plumbing every service runs on, from `createServiceRuntime`. */
export interface ServiceRuntime<TSchema extends Record<string, unknown>> {
  logger: Logger;
  database: Database<TSchema>;
  bus: Bus;
  verifier: TokenVerifier;
  /** Revoked sessions, fed by `identity.session.revoked`; the verifier refuses their tokens. */
  revocations: RevocationList;
  relay: OutboxRelay;
  /**
   * Registers parts (consumers, RPC handlers, jobs) for `close()` to stop, in the given order. Parts
   * registered later stop first, and all of them before the runtime's own: the revocation list, the
   * outbox relay, NATS, then Postgres.
   */
  stopOnClose(...parts: Stoppable[]): void;
  close(): Promise<void>;
}

/**
 * What every service's composition root starts with: logger, database pinned to the service's schema,
 * NATS with the service's streams, the revocation list and the token verifier it feeds (keys from
 * identity over NATS), and the outbox relay. The service adds its repositories, consumers and jobs, and
 * registers them with `stopOnClose`.
 */
export async function createServiceRuntime<TSchema extends Record<string, unknown>>(
  options: ServiceRuntimeOptions<TSchema>,
): Promise<ServiceRuntime<TSchema>> {
  const { service, config } = options;
  const logger = options.logger ?? createLogger({ service, level: config.LOG_LEVEL });
  const database = createDatabase({ url: config.DATABASE_URL, schema: service }, options.schema);
  const bus = await connectBus({
    url: config.NATS_URL,
    name: service,
    prefix: config.NATS_SUBJECT_PREFIX,
    logger,
  });
  await ensureStreams(bus, options.streams);
  const revocations = await createRevocationList({ bus, logger });
  const verifier = createTokenVerifier({ source: options.jwks ?? natsJwksSource(bus), revocations });
  const relay = await startOutboxRelay({ sql: database.sql, schema: service, bus, logger });
  const registered: Stoppable[][] = [];
  return {
    logger,
    database,
    bus,
    verifier,
    revocations,
    relay,
    stopOnClose(...parts) {
      registered.push(parts);
    },
    async close() {
      for (const parts of [...registered].reverse()) for (const part of parts) await part.stop();
      await revocations.stop();
      await relay.stop();
      await bus.close();
      await database.close();
    },
  };
}

/** Work that finishes after the response was sent, waited for on close so a graceful stop loses none. */
export interface BackgroundTasks extends Stoppable {
  /** Runs `task` now without the caller waiting; a failure goes to `onError`, never unhandled. */
  run(task: () => Promise<unknown>, onError: (error: unknown) => void): void;
  /** How many tasks are still running. */
  pending(): number;
  stop(): Promise<void>;
}

export function createBackgroundTasks(): BackgroundTasks {
  const running = new Set<Promise<unknown>>();
  return {
    run(task, onError) {
      const promise = Promise.resolve()
        .then(task)
        .catch(onError)
        .finally(() => running.delete(promise));
      running.add(promise);
    },
    pending: () => running.size,
    async stop() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
