import type { Logger } from '@offload/platform/logger';
import { Redis } from 'ioredis';

/**
 * Where the gateway's rate-limit counters live: fixed windows, one counter per key. The shape is
 * `@fastify/rate-limit`'s store interface; `child()` returns the same store, so every limiter and every
 * route shares it and keys stay exactly as the gateway names them (`user:<id>`, `ip:<address>` ...).
 */
export interface RateLimitStore {
  incr(
    key: string,
    callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
    timeWindow: number,
    max: number,
  ): void;
  child(): RateLimitStore;
}

/**
 * Counters in this process (the default): one gateway replica, or per-replica budgets. At most
 * `maxKeys` windows are kept; past that the window started longest ago is dropped, which can only ever
 * give that key a fresh budget, never refuse anyone.
 */
export function memoryRateLimitStore(maxKeys: number): RateLimitStore {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const store: RateLimitStore = {
    incr(key, callback, timeWindow) {
      const now = Date.now();
      let window = windows.get(key);
      if (!window || window.resetAt <= now) {
        windows.delete(key);
        if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!);
        window = { count: 0, resetAt: now + timeWindow };
        windows.set(key, window);
      }
      window.count += 1;
      callback(null, { current: window.count, ttl: window.resetAt - now });
    },
    child: () => store,
  };
  return store;
}

/**
 * One round trip per check: increment, start the window's expiry on the first hit (or when a key
 * somehow has none), return the count and the time left. Atomic, so replicas never race.
 */
const INCREMENT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

type IncrementCommand = (key: string, windowMs: number) => Promise<[number, number]>;

/**
 * Counters in Redis, shared by every gateway replica that uses the same URL and prefix. While Redis does
 * not answer, each check goes to `fallback` (this replica's memory): the limits still hold, per replica,
 * instead of letting every request through.
 */
export function redisRateLimitStore(options: {
  redis: Redis;
  prefix: string;
  logger: Logger;
  fallback: RateLimitStore;
}): RateLimitStore {
  const { redis, prefix, logger, fallback } = options;
  redis.defineCommand('gatewayRateLimitIncrement', { numberOfKeys: 1, lua: INCREMENT });
  const increment = (redis as unknown as { gatewayRateLimitIncrement: IncrementCommand })
    .gatewayRateLimitIncrement;
  const warn = throttledWarning(logger, 10_000);
  const store: RateLimitStore = {
    incr(key, callback, timeWindow, max) {
      increment.call(redis, `${prefix}${key}`, timeWindow).then(
        ([current, ttl]) => callback(null, { current, ttl }),
        (error: Error) => {
          warn(error);
          fallback.incr(key, callback, timeWindow, max);
        },
      );
    },
    child: () => store,
  };
  return store;
}

/**
 * A Redis client for rate limiting: commands fail at once while disconnected (no offline queue, short
 * timeouts), so an outage costs no latency; it reconnects on its own. Waits up to `readyTimeoutMs` for the
 * first connection and starts anyway when Redis is not there yet (limits then count per replica).
 */
export async function connectRateLimitRedis(
  url: string,
  logger: Logger,
  readyTimeoutMs = 3_000,
): Promise<Redis> {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: true,
  });
  const warn = throttledWarning(logger, 30_000);
  redis.on('error', warn);
  const ready = redis.connect().then(
    () => true,
    () => false,
  );
  const connected = await Promise.race([
    ready,
    new Promise<false>((resolve) => setTimeout(() => resolve(false), readyTimeoutMs).unref()),
  ]);
  if (!connected) {
    logger.warn('rate-limit redis not reachable yet: limits count in this replica until it answers');
  }
  return redis;
}

/** Logs a store failure at most once per interval, by error code only (never keys: they hold user ids). */
function throttledWarning(logger: Logger, intervalMs: number) {
  let last = 0;
  return (error: unknown) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    const code = (error as { code?: unknown; name?: string }).code ?? (error as { name?: string }).name;
    logger.warn({ cause_code: code }, 'rate-limit store failed: limits count in this replica meanwhile');
  };
}
