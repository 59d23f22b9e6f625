/** A token bucket that allows `limit` calls per `windowSeconds`, with bursts up to `limit`. */
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** Tokens regained per second. */
export function refillPerSecond(rule: RateLimit): number {
  return rule.limit / rule.windowSeconds;
}

/** Whole seconds until the bucket holds one token again (at least 1). */
export function retryAfterSeconds(tokensLeft: number, rule: RateLimit): number {
  const missing = Math.max(0, 1 - tokensLeft);
  return Math.max(1, Math.ceil(missing / refillPerSecond(rule)));
}
