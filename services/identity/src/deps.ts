import {
  createRevocationList,
  createTokenVerifier,
  type RevocationList,
  type TokenVerifier,
} from '@offload/platform/auth';
import { createDatabase, type Database } from '@offload/platform/db';
import { createLogger, type Logger } from '@offload/platform/logger';
import { connectBus, ensureStreams, type Bus, type RunningConsumer } from '@offload/platform/nats';
import { startOutboxRelay, type OutboxRelay } from '@offload/platform/outbox';
import type { IdentityConfig } from './config.js';
import { createErasureRepository, type ErasureRepository } from './db/erasure-repository.js';
import { createMaintenanceRepository } from './db/maintenance-repository.js';
import { createRateLimitRepository } from './db/rate-limit-repository.js';
import { createRevocationRepository } from './db/revocation-repository.js';
import { schema, type IdentitySchema } from './db/schema.js';
import { createSessionRepository, type SessionRepository } from './db/session-repository.js';
import { createSigningKeyRepository, type SigningKeyRepository } from './db/signing-key-repository.js';
import { createUserRepository, type UserRepository } from './db/user-repository.js';
import type { SessionPolicy } from './domain/session.js';
import { startUserDeletedConsumer } from './events/consumers/user-deleted.js';
import { startUserPurgedConsumers, streamOfService } from './events/consumers/user-purged.js';
import { serveJwksRpc } from './rpc/jwks-responder.js';
import { serveRevocationsRpc } from './rpc/revocations-responder.js';
import { createAccessTokenIssuer, type AccessTokenIssuer } from './security/access-tokens.js';
import { createGoogleIdTokenVerifier, type GoogleIdTokenVerifier } from './security/google-id-tokens.js';
import { createSessionRateLimiter, type SessionRateLimiter } from './security/session-rate-limiter.js';
import { createPrivateKeySealer, type PrivateKeySealer } from './security/private-key-sealer.js';
import { loadSigningKeyRing, type SigningKeyRing } from './security/signing-keys.js';
import { runMaintenance } from './use-cases/run-maintenance.js';

export interface IdentityDeps {
  config: IdentityConfig;
  logger: Logger;
  database: Database<IdentitySchema>;
  bus: Bus;
  keyRing: SigningKeyRing;
  /** Seals and opens the private signing keys (with SIGNING_KEY_ENCRYPTION_KEY) for the key ring and rotation. */
  sealer: PrivateKeySealer;
  accessTokens: AccessTokenIssuer;
  /** Revoked sessions, fed by `identity.session.revoked` (and at once by identity's own revocations). */
  revocations: RevocationList;
  /** Verifies identity's own access tokens against its own keys (no network hop), revocations included. */
  verifier: TokenVerifier;
  google: GoogleIdTokenVerifier;
  sessionRateLimiter: SessionRateLimiter;
  sessionPolicy: SessionPolicy;
  refreshGraceSeconds: number;
  erasureServices: string[];
  erasureWaitMs: number;
  userRepository: UserRepository;
  sessionRepository: SessionRepository;
  erasureRepository: ErasureRepository;
  signingKeyRepository: SigningKeyRepository;
}

export interface IdentityRuntime extends IdentityDeps {
  relay: OutboxRelay;
  consumers: RunningConsumer[];
  close(): Promise<void>;
}

const MAINTENANCE_INTERVAL_MS = 10 * 60_000;

/** The composition root of the identity service: the one place that knows every concrete dependency. */
export async function createIdentityRuntime(
  config: IdentityConfig,
  overrides: { logger?: Logger } = {},
): Promise<IdentityRuntime> {
  const logger = overrides.logger ?? createLogger({ service: 'identity', level: config.LOG_LEVEL });
  const database = createDatabase({ url: config.DATABASE_URL, schema: 'identity' }, schema);
  const signingKeyRepository = createSigningKeyRepository(database);
  const sealer = createPrivateKeySealer(
    config.SIGNING_KEY_ENCRYPTION_KEY,
    config.SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS,
  );
  if (!sealer.encrypts) {
    logger.warn('SIGNING_KEY_ENCRYPTION_KEY is not set: the private signing keys are stored unencrypted');
  }
  const keyRing = await loadSigningKeyRing({
    signingKeyRepository,
    sealer,
    retiredKeyGraceSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  }).catch(async (error: unknown) => {
    // A key that cannot be opened stops the start: nothing may stay connected behind it.
    await database.close();
    throw error;
  });
  const bus = await connectBus({
    url: config.NATS_URL,
    name: 'identity',
    prefix: config.NATS_SUBJECT_PREFIX,
    logger,
  });
  // IDENTITY is ours; the other erasure services' streams carry their purge confirmations.
  const confirmingStreams = config.ERASURE_SERVICES.filter((s) => s !== 'identity').map(streamOfService);
  await ensureStreams(bus, ['IDENTITY', ...confirmingStreams]);
  const revocationRepository = createRevocationRepository(database);
  const responders = [
    serveJwksRpc({ bus, logger, keyRing }),
    serveRevocationsRpc({
      bus,
      logger,
      revocationRepository,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    }),
  ];
  await bus.nc.flush();
  const revocations = await createRevocationList({ bus, logger });
  const relay = await startOutboxRelay({ sql: database.sql, schema: 'identity', bus, logger });

  const userRepository = createUserRepository(database);
  const erasureRepository = createErasureRepository(database);
  const rateLimitRepository = createRateLimitRepository(database);
  const consumers = [
    await startUserDeletedConsumer({ database, bus, logger, userRepository, erasureRepository }),
    ...(await startUserPurgedConsumers({
      bus,
      logger,
      database,
      erasureRepository,
      services: config.ERASURE_SERVICES,
    })),
  ];

  const maintenanceRepository = createMaintenanceRepository(database);
  const maintenance = setInterval(() => {
    runMaintenance({
      maintenanceRepository,
      rateLimitRepository,
      rateLimitWindowSeconds: config.SESSION_RATE_LIMIT_WINDOW_SECONDS,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    }).then(
      (pruned) => logger.debug({ pruned }, 'maintenance done'),
      (error) => logger.warn({ error: (error as Error).name }, 'maintenance failed'),
    );
  }, MAINTENANCE_INTERVAL_MS);
  maintenance.unref();

  return {
    config,
    logger,
    database,
    bus,
    keyRing,
    sealer,
    accessTokens: createAccessTokenIssuer({ keyRing, ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS }),
    revocations,
    verifier: createTokenVerifier({ source: () => keyRing.jwks(), revocations }),
    google: createGoogleIdTokenVerifier({
      jwksUrl: config.GOOGLE_JWKS_URL,
      clientIds: config.GOOGLE_CLIENT_IDS,
      refetchCooldownMs: config.GOOGLE_JWKS_COOLDOWN_SECONDS * 1000,
    }),
    sessionRateLimiter: createSessionRateLimiter({
      repository: rateLimitRepository,
      perIp: {
        limit: config.SESSION_RATE_LIMIT_PER_IP,
        windowSeconds: config.SESSION_RATE_LIMIT_WINDOW_SECONDS,
      },
      perInstallId: {
        limit: config.SESSION_RATE_LIMIT_PER_INSTALL_ID,
        windowSeconds: config.SESSION_RATE_LIMIT_WINDOW_SECONDS,
      },
      logger,
    }),
    sessionPolicy: {
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshIdleDays: config.REFRESH_IDLE_DAYS,
      refreshAbsoluteDays: config.REFRESH_ABSOLUTE_DAYS,
    },
    refreshGraceSeconds: config.REFRESH_GRACE_SECONDS,
    erasureServices: config.ERASURE_SERVICES,
    erasureWaitMs: config.ERASURE_WAIT_SECONDS * 1000,
    userRepository,
    sessionRepository: createSessionRepository(),
    erasureRepository,
    signingKeyRepository,
    relay,
    consumers,
    async close() {
      clearInterval(maintenance);
      for (const consumer of consumers) await consumer.stop();
      for (const responder of responders) responder.stop();
      await revocations.stop();
      await relay.stop();
      await bus.close();
      await database.close();
    },
  };
}
