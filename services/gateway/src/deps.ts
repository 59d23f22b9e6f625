import {
  createRevocationList,
  createTokenVerifier,
  httpJwksSource,
  type JwksSource,
  type TokenVerifier,
} from '@offload/platform/auth';
import { createLogger, type Logger } from '@offload/platform/logger';
import { connectBus } from '@offload/platform/nats';
import { upstreamsOf, type GatewayConfig } from './config.js';
import { PROXY_ROUTES, routeTableProblems, type ProxyRoute, type ServiceName } from './domain/routes.js';
import {
  connectRateLimitRedis,
  memoryRateLimitStore,
  redisRateLimitStore,
  type RateLimitStore,
} from './plugins/rate-limit-store.js';
import { createApiDocumentCatalog, type ApiDocumentCatalog } from './use-cases/load-api-documents.js';

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  verifier: TokenVerifier;
  /** Base URL of every service, by name. */
  upstreams: Record<ServiceName, string>;
  /** The route table (DESIGN 2): `PROXY_ROUTES` unless a caller brings its own. */
  routes: readonly ProxyRoute[];
  rateLimitStore: RateLimitStore;
  apiDocuments: ApiDocumentCatalog;
}

export interface GatewayRuntime extends GatewayDeps {
  close(): Promise<void>;
}

/**
 * The composition root of the gateway. It owns no data: signing keys come from identity's JWKS over HTTP
 * (cached, refetched for an unknown key), revoked sessions from identity's events over NATS (kept in
 * memory), rate-limit counters from memory or Redis, and the services' OpenAPI documents over HTTP.
 */
export async function createGatewayRuntime(
  config: GatewayConfig,
  overrides: { logger?: Logger; jwks?: JwksSource; routes?: readonly ProxyRoute[] } = {},
): Promise<GatewayRuntime> {
  const logger = overrides.logger ?? createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const routes = overrides.routes ?? PROXY_ROUTES;
  const problems = routeTableProblems(routes);
  if (problems.length > 0)
    throw new Error(`the gateway's route table is broken:\n  ${problems.join('\n  ')}`);

  const bus = await connectBus({
    url: config.NATS_URL,
    name: 'gateway',
    prefix: config.NATS_SUBJECT_PREFIX,
    logger,
  });
  const revocations = await createRevocationList({ bus, logger });
  const verifier = createTokenVerifier({
    source: overrides.jwks ?? httpJwksSource(config.JWKS_URL),
    refetchCooldownMs: config.JWKS_REFETCH_COOLDOWN_MS,
    revocations,
  });
  const redis = config.RATE_LIMIT_REDIS_URL
    ? await connectRateLimitRedis(config.RATE_LIMIT_REDIS_URL, logger)
    : undefined;
  const memoryStore = memoryRateLimitStore(config.RATE_LIMIT_MEMORY_KEYS);
  const rateLimitStore = redis
    ? redisRateLimitStore({ redis, prefix: config.RATE_LIMIT_REDIS_PREFIX, logger, fallback: memoryStore })
    : memoryStore;
  const upstreams = upstreamsOf(config);

  return {
    config,
    logger,
    verifier,
    upstreams,
    routes,
    rateLimitStore,
    apiDocuments: createApiDocumentCatalog({ upstreams, logger, config }),
    async close() {
      await revocations.stop();
      await bus.close();
      redis?.disconnect();
    },
  };
}
