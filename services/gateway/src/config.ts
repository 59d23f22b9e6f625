import { isIP } from 'node:net';
import { baseServiceEnv, env, loadConfig } from '@offload/platform/config';
import { z } from 'zod';
import { parseBodyLimits, parseByteSize } from './domain/body-limits.js';
import { PROXY_ROUTES, SERVICES, type ServiceName } from './domain/routes.js';

/** A service's base URL: http(s), normalised to its origin (the gateway forwards full `/v1/...` paths). */
const serviceUrl = (fallback: string) =>
  z
    .url({ protocol: /^https?$/ })
    .default(fallback)
    .transform((value) => new URL(value).origin)
    .describe('base URL of the service (scheme, host, port)');

const milliseconds = (fallback: number) =>
  z.coerce.number().int().positive().max(3_600_000).default(fallback);

/** Requests per window; generous upper bound so benchmarks can effectively lift a limit. */
const requestsPerWindow = (fallback: number) =>
  z.coerce.number().int().min(1).max(1_000_000_000).default(fallback);

/** A comma-separated list; blanks dropped. */
const commaList = (value: string) =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);

/** proxy-addr's names for address ranges, as Fastify's `trustProxy` accepts them. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrRange(entry: string): boolean {
  if (NAMED_RANGES.has(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const byteSize = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === undefined || bytes < 1) {
        ctx.addIssue({ code: 'custom', message: 'a size such as 262144, 256kb or 1mb' });
        return z.NEVER;
      }
      return bytes;
    });

/**
 * The gateway owns no data and needs no database. It connects to NATS for one thing: the revocation
 * events of identity (logout, logout-all, erasure), so tokens of revoked sessions stop working at the
 * edge within seconds (DESIGN 5, 6). It is the only component that knows the services' HTTP addresses
 * (DESIGN 2). Defaults match each service's default port on one machine.
 */
export const GatewayEnv = baseServiceEnv
  .pick({ HOST: true, LOG_LEVEL: true, APP_ENV: true, NATS_URL: true, NATS_SUBJECT_PREFIX: true })
  .extend({
    GATEWAY_PORT: env.port(8080),
    IDENTITY_URL: serviceUrl('http://127.0.0.1:3001'),
    AI_URL: serviceUrl('http://127.0.0.1:3002'),
    USAGE_URL: serviceUrl('http://127.0.0.1:3003'),
    TASKS_URL: serviceUrl('http://127.0.0.1:3004'),
    BILLING_URL: serviceUrl('http://127.0.0.1:3005'),
    VOICE_URL: serviceUrl('http://127.0.0.1:3006'),
    /** Where the access-token signing keys are published; defaults to identity's JWKS route. */
    JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** At most one JWKS refetch per this many ms when a token names an unknown key id. */
    JWKS_REFETCH_COOLDOWN_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
    /**
     * Upstream connections per proxied prefix (undici pool). The library default of 128 halves
     * throughput at 1000 concurrent clients (STACK notes).
     */
    PROXY_CONNECTIONS: z.coerce.number().int().min(1).max(65_536).default(1024),
    /**
     * How long a service may take to send its response headers. AI calls retry a provider for up to
     * about a minute (DESIGN 7), hence the generous default.
     */
    UPSTREAM_TIMEOUT_MS: milliseconds(90_000),
    /**
     * The longest silence inside a response body once it started. An idle timeout, never a total one:
     * an SSE stream or a long download runs as long as data keeps coming.
     */
    UPSTREAM_IDLE_TIMEOUT_MS: milliseconds(300_000),
    /**
     * How long a client may take to send its whole request (headers and body); slow senders are cut
     * off. It ends once the request is in: responses, SSE streams and WebSockets are not limited by it.
     */
    REQUEST_TIMEOUT_MS: milliseconds(30_000),
    /** Per-service timeout of the `/health/ready` probes behind `GET /v1/health`. */
    HEALTH_TIMEOUT_MS: milliseconds(2_000),
    /**
     * Who may set `X-Forwarded-For` (Fastify `trustProxy`): the load balancers in front of the gateway,
     * as addresses, CIDRs or `loopback` / `linklocal` / `uniquelocal`. Default `none`: the gateway is
     * the edge and takes the client address from the connection; a spoofed header changes nothing.
     */
    TRUSTED_PROXIES: z
      .string()
      .default('none')
      .transform((value, ctx) => {
        if (value.trim() === 'none') return false as const;
        const entries = commaList(value);
        const bad = entries.filter((e) => !isAddressOrRange(e));
        if (bad.length > 0 || entries.length === 0) {
          ctx.addIssue({ code: 'custom', message: `not an address, CIDR or named range: ${bad.join(', ')}` });
          return z.NEVER;
        }
        return entries;
      })
      .describe('addresses/CIDRs of proxies whose X-Forwarded-For is honoured, or none'),
    /**
     * Browser origins allowed to call the API (CORS), e.g. `https://app.offload.example`. None by
     * default: native apps need no CORS, and a browser app's origin is a deployment decision.
     */
    CORS_ORIGINS: z
      .string()
      .default('')
      .transform((value, ctx) => {
        const origins = commaList(value);
        const bad = origins.filter((o) => !isOrigin(o));
        if (bad.length > 0) {
          ctx.addIssue({
            code: 'custom',
            message: `not an origin (scheme://host[:port]): ${bad.join(', ')}`,
          });
          return z.NEVER;
        }
        return origins;
      })
      .describe('comma-separated browser origins allowed by CORS'),
    /** The rate-limit window (DESIGN 6: per minute). */
    RATE_LIMIT_WINDOW_MS: milliseconds(60_000),
    /** Requests per user and window on every protected prefix (DESIGN 6: 100/min). */
    RATE_LIMIT_PER_USER: requestsPerWindow(100),
    /** Requests per user and window on `/v1/ai/*`, on top of the general limit (DESIGN 6: 20/min). */
    RATE_LIMIT_AI_PER_USER: requestsPerWindow(20),
    /** Requests per client IP and window on `/v1/auth/*` and `/v1/sessions/*` (DESIGN 6: 10/min). */
    RATE_LIMIT_AUTH_PER_IP: requestsPerWindow(10),
    /**
     * When set, the counters live in Redis and every gateway replica shares one budget; otherwise each
     * replica counts in memory. When Redis is unreachable the gateway lets requests through (fail
     * open, with a warning in the log) rather than turning a cache outage into an API outage.
     */
    RATE_LIMIT_REDIS_URL: z
      .url({ protocol: /^rediss?$/ })
      .optional()
      .describe('redis:// URL of the shared rate-limit store'),
    /** Namespace of the gateway's keys in Redis. */
    RATE_LIMIT_REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and : _ . -, at most 64')
      .default('offload:gateway:rate-limit:'),
    /** In-memory counters kept at most (the oldest windows are dropped first). */
    RATE_LIMIT_MEMORY_KEYS: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
    /** Body cap of every prefix without its own entry in BODY_LIMITS. */
    BODY_LIMIT_DEFAULT: byteSize('256kb'),
    /** Body caps per route prefix, `<prefix>=<size>` (DESIGN 6). */
    BODY_LIMITS: z
      .string()
      .default('/v1/ai=16kb,/v1/tasks=64kb')
      .transform((value, ctx) => {
        const { entries, problems } = parseBodyLimits(value, PROXY_ROUTES);
        for (const problem of problems) ctx.addIssue({ code: 'custom', message: problem });
        return problems.length > 0 ? z.NEVER : entries;
      })
      .describe('comma-separated <prefix>=<size> body caps'),
    /** The merged OpenAPI document is rebuilt from the services' documents at most this often. */
    OPENAPI_REFRESH_MS: milliseconds(60_000),
    /** Per-service timeout when fetching `/openapi.json`. */
    OPENAPI_TIMEOUT_MS: milliseconds(2_000),
  });

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}

export type GatewayConfig = Omit<z.infer<typeof GatewayEnv>, 'JWKS_URL'> & { JWKS_URL: string };

export function loadGatewayConfig(source: Record<string, string | undefined> = process.env): GatewayConfig {
  const parsed = loadConfig('gateway', GatewayEnv, source);
  return { ...parsed, JWKS_URL: parsed.JWKS_URL ?? `${parsed.IDENTITY_URL}/v1/.well-known/jwks.json` };
}

const URL_KEYS = {
  identity: 'IDENTITY_URL',
  ai: 'AI_URL',
  usage: 'USAGE_URL',
  tasks: 'TASKS_URL',
  billing: 'BILLING_URL',
  voice: 'VOICE_URL',
} as const satisfies Record<ServiceName, keyof GatewayConfig>;

/** Base URL of every service, by name. */
export function upstreamsOf(config: GatewayConfig): Record<ServiceName, string> {
  return Object.fromEntries(SERVICES.map((name) => [name, config[URL_KEYS[name]]])) as Record<
    ServiceName,
    string
  >;
}
