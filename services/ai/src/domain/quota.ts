/** Seconds until the next UTC month starts, when monthly meters reset (DESIGN 8). */
export function secondsUntilNextUtcMonth(nowMs: number): number {
  const now = new Date(nowMs);
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - nowMs) / 1000));
}

/**
 * How long a reservation is held before usage returns it on its own: long enough for the slowest call we
 * allow (every attempt timing out plus the whole waiting budget) with a margin, within usage's 15 min cap.
 */
export function reservationTtlMs(attemptTimeoutMs: number, maxAttempts: number, maxTotalDelayMs: number) {
  return Math.min(15 * 60_000, Math.max(1_000, attemptTimeoutMs * maxAttempts + maxTotalDelayMs + 30_000));
}
