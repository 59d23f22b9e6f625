import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { AppError } from '@offload/platform/errors';
import type { App } from '@offload/platform/http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimitName } from '../domain/routes.js';
import type { RateLimitStore } from './rate-limit-store.js';

export interface RateLimitSettings {
  store: RateLimitStore;
  windowMs: number;
  max: Record<RateLimitName, number>;
}

/** Checks the named limits for a request: sets `RateLimit-*` headers, throws 429 `rate_limited` past one. */
export type EnforceRateLimits = (
  request: FastifyRequest,
  reply: FastifyReply,
  names: readonly RateLimitName[],
) => Promise<void>;

type Check = ReturnType<App['createRateLimit']>;
type Outcome = Exclude<Awaited<ReturnType<Check>>, { isAllowed: true }>;

/** Who a limit counts: the verified user (set by the bearer check before any limit runs) or the client IP. */
const KEYS: Record<RateLimitName, (request: FastifyRequest) => string> = {
  user: (request) => `user:${request.user.userId}`,
  ai: (request) => `ai:${request.user.userId}`,
  // IPv6 clients are counted per /64, as @fastify/rate-limit does: one host has many addresses there.
  ip: (request) => `ip:${normalizeIP(request.ip)}`,
};

/**
 * The gateway's rate limits (DESIGN 6) on `@fastify/rate-limit`, registered without global hooks: each
 * proxy route plugin calls the returned function in its own `onRequest` hook with the limits of its row,
 * so a WebSocket upgrade (which that hook lets through first) is never counted. One store serves every
 * limiter: in memory, or in Redis shared by all replicas.
 *
 * Headers follow the IETF RateLimit draft: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
 * (seconds) and `RateLimit-Policy` (`<limit>;w=<window seconds>`) for the tightest of the limits
 * checked, and on 429 `Retry-After` with the same seconds as `retry_after` in the error envelope.
 */
export async function registerRateLimits(app: App, settings: RateLimitSettings): Promise<EnforceRateLimits> {
  const shared = settings.store;
  // @fastify/rate-limit builds its store with `new`: a plain function returning an object hands it ours.
  const storeCtor = function () {
    return shared;
  } as unknown as NonNullable<Parameters<App['createRateLimit']>[0]>['store'];
  await app.register(rateLimit, {
    global: false,
    store: storeCtor,
    timeWindow: settings.windowMs,
    // The Redis store answers from this replica's memory while Redis is down; a store that still fails
    // lets the request through rather than refusing everyone.
    skipOnError: true,
  });
  const checks = Object.fromEntries(
    (Object.keys(KEYS) as RateLimitName[]).map((name) => [
      name,
      app.createRateLimit({ max: settings.max[name], keyGenerator: KEYS[name] }),
    ]),
  ) as Record<RateLimitName, Check>;
  const windowSeconds = Math.ceil(settings.windowMs / 1000);

  return async (request, reply, names) => {
    let tightest: Outcome | undefined;
    for (const name of names) {
      const outcome = await checks[name](request);
      if (outcome.isAllowed) continue;
      // ttl 0: the store failed and the request passes; no headers that would be made up.
      if (outcome.ttl <= 0) continue;
      if (outcome.isExceeded) {
        setHeaders(reply, outcome, windowSeconds);
        throw new AppError('rate_limited', 'too many requests; retry later', {
          retryAfter: outcome.ttlInSeconds,
        });
      }
      if (!tightest || outcome.remaining < tightest.remaining) tightest = outcome;
    }
    if (tightest) setHeaders(reply, tightest, windowSeconds);
  };
}

function setHeaders(reply: FastifyReply, outcome: Outcome, windowSeconds: number) {
  reply.header('ratelimit-limit', outcome.max);
  reply.header('ratelimit-remaining', outcome.remaining);
  reply.header('ratelimit-reset', outcome.ttlInSeconds);
  reply.header('ratelimit-policy', `${outcome.max};w=${windowSeconds}`);
}
