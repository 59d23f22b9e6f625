import { AppError } from '@offload/platform/errors';
import type { Logger } from '@offload/platform/logger';
import type { RateLimitRepository } from '../db/rate-limit-repository.js';
import { refillPerSecond, retryAfterSeconds, type RateLimit } from '../domain/rate-limit.js';
import { sha256Hex, shortHash } from './hashing.js';

export interface SessionRateLimiter {
  /**
   * Takes one session issuance from the client IP's budget and, when given, the install id's; throws
   * 429 `session_rate_limited` with `retry_after` when either is spent.
   */
  check(input: { ip: string; installId?: string }): Promise<void>;
}

/**
 * Session issuance limits (DESIGN 5), as token buckets in Postgres so every replica shares one budget.
 * The IP bucket is checked first; a call it refuses does not touch the install id's. Buckets are keyed
 * by SHA-256, and logs carry only short hashes of the IP and the install id.
 */
export function createSessionRateLimiter(deps: {
  repository: RateLimitRepository;
  perIp: RateLimit;
  perInstallId: RateLimit;
  logger: Logger;
}): SessionRateLimiter {
  const take = async (key: string, rule: RateLimit) => {
    const result = await deps.repository.take(key, rule.limit, refillPerSecond(rule));
    return result.allowed ? undefined : retryAfterSeconds(result.tokens, rule);
  };
  const refuse = (scope: 'ip' | 'install_id', retryAfter: number, hashes: Record<string, string>) => {
    deps.logger.warn({ scope, retry_after: retryAfter, ...hashes }, 'session issuance rate limited');
    return new AppError('session_rate_limited', 'too many sessions started; try again later', {
      retryAfter,
    });
  };

  return {
    async check({ ip, installId }) {
      const ipRetry = await take(`ip:${sha256Hex(ip)}`, deps.perIp);
      if (ipRetry !== undefined) {
        throw refuse('ip', ipRetry, {
          ip: shortHash(ip),
          ...(installId ? { install: shortHash(installId) } : {}),
        });
      }
      if (installId === undefined) return;
      const installRetry = await take(`install:${sha256Hex(installId)}`, deps.perInstallId);
      if (installRetry !== undefined) {
        throw refuse('install_id', installRetry, { ip: shortHash(ip), install: shortHash(installId) });
      }
    },
  };
}
