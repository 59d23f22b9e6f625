import type { ErrorCode } from '@offload/contracts';

/**
 * Bounded retries of provider calls (DESIGN 7), as pure rules plus a small executor whose clock
 * (`sleep`) and randomness (`random`) are injected, so every rule is unit-tested with a fake clock.
 *
 * - Retried: timeout, network error, 429 and 5xx. Anything else fails at once.
 * - At most `maxAttempts` attempts (3).
 * - Delay before retry n (1-based): `baseDelayMs * 2^(n-1)` capped at `maxDelayMs`, then +-`jitterRatio`
 *   of jitter, capped again (250 ms, 500 ms, 1 s, 2 s ... never above 2 s).
 * - `Retry-After` is honoured: the wait is at least what the provider asked for; when that does not fit in
 *   what is left of the waiting budget, we stop instead of retrying early.
 * - At most `maxTotalDelayMs` (4 s) of waiting over the whole call; a computed backoff is shortened to what
 *   is left of it.
 * - An invalid (unparseable or off-schema) model answer gets `maxInvalidResponseRetries` (1) immediate
 *   retry within the same attempt budget; the next invalid answer ends the call.
 * - A cancelled call (the client went away) is never retried.
 */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  jitterRatio: number;
  maxTotalDelayMs: number;
  maxInvalidResponseRetries: number;
}

export const RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 250,
  maxDelayMs: 2_000,
  jitterRatio: 0.25,
  maxTotalDelayMs: 4_000,
  maxInvalidResponseRetries: 1,
});

/** Why one attempt failed; the closed set the adapter maps every provider error to. */
export type FailureKind =
  'timeout' | 'network' | 'rate_limited' | 'server_error' | 'client_error' | 'invalid_response' | 'cancelled';

const RETRIABLE: ReadonlySet<FailureKind> = new Set(['timeout', 'network', 'rate_limited', 'server_error']);

export function isRetriable(kind: FailureKind): boolean {
  return RETRIABLE.has(kind);
}

/**
 * One failed attempt. `code` is the failure kind (spans record it as `error.type`); the message is always
 * generic, because provider error texts may quote the prompt.
 */
export class ProviderFailure extends Error {
  readonly code: FailureKind;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: FailureKind, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(
      `provider attempt failed: ${code}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'ProviderFailure';
    this.code = code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The delay before retry number `retry` (1 = the first retry), jittered and capped. */
export function backoffDelayMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const jittered = exponential * (1 + policy.jitterRatio * (2 * random() - 1));
  return Math.round(Math.min(policy.maxDelayMs, Math.max(0, jittered)));
}

export interface RetryState {
  /** Attempts made so far, the failed one included. */
  attempt: number;
  /** Time already spent waiting between attempts. */
  waitedMs: number;
  /** Invalid answers so far, the failed one included. */
  invalidResponses: number;
}

export type StopReason =
  | 'not_retriable'
  | 'cancelled'
  | 'attempts_exhausted'
  | 'invalid_response_retry_used'
  | 'delay_budget_exhausted';

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: StopReason };

/** Whether to retry after `failure`, and after how long. Pure. */
export function decideRetry(
  policy: RetryPolicy,
  state: RetryState,
  failure: ProviderFailure,
  random: () => number,
): RetryDecision {
  if (failure.code === 'cancelled') return { retry: false, reason: 'cancelled' };
  if (failure.code !== 'invalid_response' && !isRetriable(failure.code)) {
    return { retry: false, reason: 'not_retriable' };
  }
  if (state.attempt >= policy.maxAttempts) return { retry: false, reason: 'attempts_exhausted' };
  if (failure.code === 'invalid_response') {
    return state.invalidResponses <= policy.maxInvalidResponseRetries
      ? { retry: true, delayMs: 0 }
      : { retry: false, reason: 'invalid_response_retry_used' };
  }
  const remaining = policy.maxTotalDelayMs - state.waitedMs;
  const backoff = backoffDelayMs(policy, state.attempt, random);
  if (failure.retryAfterMs !== undefined) {
    const wanted = Math.max(backoff, Math.ceil(failure.retryAfterMs));
    return wanted <= remaining
      ? { retry: true, delayMs: wanted }
      : { retry: false, reason: 'delay_budget_exhausted' };
  }
  if (remaining <= 0) return { retry: false, reason: 'delay_budget_exhausted' };
  return { retry: true, delayMs: Math.min(backoff, remaining) };
}

/**
 * Parses `retry-after-ms` (milliseconds, OpenAI's) or `Retry-After` (seconds or an HTTP date, RFC 9110).
 * Returns undefined when absent or unusable.
 */
export function parseRetryAfterMs(
  headers: { retryAfterMs?: string | null; retryAfter?: string | null },
  nowMs: number,
): number | undefined {
  const ms = headers.retryAfterMs?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = headers.retryAfter?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  // An HTTP date names its weekday and month; bare numbers with signs are not dates here.
  if (!/^[A-Za-z]{3},/.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** Which client-facing error a call ends with, given its last failure. */
export function errorCodeFor(kind: FailureKind): ErrorCode {
  switch (kind) {
    case 'timeout':
      return 'provider_timeout';
    case 'invalid_response':
      return 'provider_invalid_response';
    default:
      return 'provider_request_failed';
  }
}

/** The clock and randomness the executor uses; tests pass a fake clock. */
export interface RetryClock {
  /** Waits `ms`; rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export interface RetryOutcome<T> {
  value: T;
  attempts: number;
  waitedMs: number;
}

/** The call failed for good: the last failure, how many attempts it took and how long we waited. */
export class RetriesExhausted extends Error {
  readonly code: FailureKind;
  readonly failure: ProviderFailure;
  readonly attempts: number;
  readonly waitedMs: number;
  readonly reason: StopReason;

  constructor(failure: ProviderFailure, attempts: number, waitedMs: number, reason: StopReason) {
    super(`provider call failed after ${attempts} attempt(s): ${failure.code}`, { cause: failure });
    this.name = 'RetriesExhausted';
    this.code = failure.code;
    this.failure = failure;
    this.attempts = attempts;
    this.waitedMs = waitedMs;
    this.reason = reason;
  }
}

/**
 * Runs `attempt(1)`, `attempt(2)` ... under `policy`. An attempt signals a classified failure by throwing
 * `ProviderFailure`; any other error is a bug and propagates at once. Aborting `signal` cancels a pending
 * wait and stops the loop.
 */
export async function runWithRetries<T>(
  policy: RetryPolicy,
  clock: RetryClock,
  attempt: (n: number) => Promise<T>,
  signal?: AbortSignal,
): Promise<RetryOutcome<T>> {
  let waitedMs = 0;
  let invalidResponses = 0;
  for (let n = 1; ; n++) {
    if (signal?.aborted) {
      throw new RetriesExhausted(new ProviderFailure('cancelled'), n - 1, waitedMs, 'cancelled');
    }
    try {
      return { value: await attempt(n), attempts: n, waitedMs };
    } catch (error) {
      if (!(error instanceof ProviderFailure)) throw error;
      if (error.code === 'invalid_response') invalidResponses++;
      const decision = decideRetry(policy, { attempt: n, waitedMs, invalidResponses }, error, clock.random);
      if (!decision.retry) throw new RetriesExhausted(error, n, waitedMs, decision.reason);
      if (decision.delayMs > 0) {
        try {
          await clock.sleep(decision.delayMs, signal);
        } catch {
          throw new RetriesExhausted(new ProviderFailure('cancelled'), n, waitedMs, 'cancelled');
        }
        waitedMs += decision.delayMs;
      }
    }
  }
}
