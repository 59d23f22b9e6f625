/**
 * Inference limits (DESIGN 7 / issue 4): at most N calls per install id and M per client IP in any sliding
 * window (default 20 and 120 per minute). An exact sliding log: each key keeps the times of its calls inside
 * the window (at most `limit` numbers), so a burst at the end of one minute cannot be followed by another
 * full burst at the start of the next, as with fixed windows.
 *
 * In memory, per replica: with R replicas the effective limit is up to R times higher. The gateway's
 * per-user limit (shared through Redis when configured) is the first line; this one is defence in depth
 * and protects the provider budget of each instance. The number of keys is bounded (`maxKeys`); when full,
 * the least recently inserted key is forgotten.
 */
export interface SlidingWindowOptions {
  limit: number;
  windowMs: number;
  maxKeys?: number;
}

export type LimitCheck = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface SlidingWindow {
  check(key: string, nowMs: number): LimitCheck;
  record(key: string, nowMs: number): void;
  size(): number;
}

export function createSlidingWindow(options: SlidingWindowOptions): SlidingWindow {
  const maxKeys = options.maxKeys ?? 100_000;
  const hits = new Map<string, number[]>();

  const live = (key: string, nowMs: number): number[] => {
    const times = hits.get(key);
    if (!times) return [];
    const cutoff = nowMs - options.windowMs;
    let drop = 0;
    while (drop < times.length && times[drop]! <= cutoff) drop++;
    if (drop > 0) times.splice(0, drop);
    if (times.length === 0) hits.delete(key);
    return times;
  };

  return {
    check(key, nowMs) {
      const times = live(key, nowMs);
      if (times.length < options.limit) return { allowed: true };
      // The oldest call inside the window leaves it at oldest + windowMs.
      return { allowed: false, retryAfterMs: Math.max(1, times[0]! + options.windowMs - nowMs) };
    },
    record(key, nowMs) {
      const times = live(key, nowMs);
      if (times.length === 0) {
        if (hits.size >= maxKeys) {
          const oldest = hits.keys().next();
          if (!oldest.done) hits.delete(oldest.value);
        }
        hits.set(key, [nowMs]);
        return;
      }
      times.push(nowMs);
    },
    size: () => hits.size,
  };
}

export interface InferenceLimiterOptions {
  perInstall: number;
  perIp: number;
  windowMs: number;
  maxKeys?: number;
}

export interface InferenceLimiter {
  /**
   * Counts one call for the install id and the IP when both have room; otherwise counts nothing and says
   * how long until the fuller of the two has room again.
   */
  tryAcquire(keys: { installId: string; ip: string }, nowMs: number): LimitCheck;
}

export function createInferenceLimiter(options: InferenceLimiterOptions): InferenceLimiter {
  const common = { windowMs: options.windowMs, ...(options.maxKeys ? { maxKeys: options.maxKeys } : {}) };
  const byInstall = createSlidingWindow({ limit: options.perInstall, ...common });
  const byIp = createSlidingWindow({ limit: options.perIp, ...common });
  return {
    tryAcquire({ installId, ip }, nowMs) {
      const install = byInstall.check(installId, nowMs);
      const address = byIp.check(ip, nowMs);
      if (!install.allowed || !address.allowed) {
        return {
          allowed: false,
          retryAfterMs: Math.max(
            install.allowed ? 0 : install.retryAfterMs,
            address.allowed ? 0 : address.retryAfterMs,
          ),
        };
      }
      byInstall.record(installId, nowMs);
      byIp.record(ip, nowMs);
      return { allowed: true };
    },
  };
}
