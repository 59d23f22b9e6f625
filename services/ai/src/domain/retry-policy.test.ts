import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  decideRetry,
  errorCodeFor,
  parseRetryAfterMs,
  ProviderFailure,
  RETRY_POLICY,
  RetriesExhausted,
  runWithRetries,
  type FailureKind,
  type RetryClock,
  type RetryPolicy,
} from './retry-policy.js';

/** A clock that never waits: it records every sleep and advances a virtual time. */
function fakeClock(random: () => number = () => 0.5) {
  const sleeps: number[] = [];
  let virtualMs = 0;
  const clock: RetryClock = {
    async sleep(ms, signal) {
      if (signal?.aborted) throw new Error('aborted');
      sleeps.push(ms);
      virtualMs += ms;
    },
    random,
  };
  return { clock, sleeps, elapsed: () => virtualMs };
}

/** An attempt function that fails with the scripted kinds, then succeeds with `value`. */
function scripted(failures: (FailureKind | ProviderFailure)[], value = 'ok') {
  const calls: number[] = [];
  const attempt = async (n: number) => {
    calls.push(n);
    const next = failures[n - 1];
    if (next === undefined) return value;
    throw next instanceof ProviderFailure ? next : new ProviderFailure(next);
  };
  return { attempt, calls };
}

async function exhausted(promise: Promise<unknown>): Promise<RetriesExhausted> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RetriesExhausted);
  return error as RetriesExhausted;
}

describe('the retry policy of DESIGN 7', () => {
  it('has the documented numbers', () => {
    expect(RETRY_POLICY).toEqual({
      maxAttempts: 3,
      baseDelayMs: 250,
      maxDelayMs: 2_000,
      jitterRatio: 0.25,
      maxTotalDelayMs: 4_000,
      maxInvalidResponseRetries: 1,
    });
  });

  it('backs off exponentially from 250 ms with 25% jitter, capped at 2 s', () => {
    expect(backoffDelayMs(RETRY_POLICY, 1, () => 0.5)).toBe(250);
    expect(backoffDelayMs(RETRY_POLICY, 2, () => 0.5)).toBe(500);
    expect(backoffDelayMs(RETRY_POLICY, 3, () => 0.5)).toBe(1_000);
    expect(backoffDelayMs(RETRY_POLICY, 4, () => 0.5)).toBe(2_000);
    expect(backoffDelayMs(RETRY_POLICY, 9, () => 0.5)).toBe(2_000);
    // Jitter extremes: -25% and +25%, never above the cap.
    expect(backoffDelayMs(RETRY_POLICY, 1, () => 0)).toBe(188);
    expect(backoffDelayMs(RETRY_POLICY, 1, () => 0.999999)).toBe(312);
    expect(backoffDelayMs(RETRY_POLICY, 2, () => 0)).toBe(375);
    expect(backoffDelayMs(RETRY_POLICY, 2, () => 0.999999)).toBe(625);
    expect(backoffDelayMs(RETRY_POLICY, 4, () => 0)).toBe(1_500);
    expect(backoffDelayMs(RETRY_POLICY, 4, () => 0.999999)).toBe(2_000);
  });

  it('429 then 200 succeeds with 2 attempts after one backoff', async () => {
    const { clock, sleeps } = fakeClock();
    const { attempt, calls } = scripted(['rate_limited']);
    const outcome = await runWithRetries(RETRY_POLICY, clock, attempt);
    expect(outcome).toEqual({ value: 'ok', attempts: 2, waitedMs: 250 });
    expect(calls).toEqual([1, 2]);
    expect(sleeps).toEqual([250]);
  });

  it.each(['timeout', 'network', 'rate_limited', 'server_error'] as const)(
    'retries %s, at most 3 attempts in all',
    async (kind) => {
      const { clock, sleeps } = fakeClock();
      const { attempt, calls } = scripted([kind, kind, kind, kind]);
      const error = await exhausted(runWithRetries(RETRY_POLICY, clock, attempt));
      expect(calls).toEqual([1, 2, 3]);
      expect(error).toMatchObject({ code: kind, attempts: 3, reason: 'attempts_exhausted', waitedMs: 750 });
      expect(sleeps).toEqual([250, 500]);
    },
  );

  it('500 x3 ends after exactly 3 attempts as provider_request_failed', async () => {
    const { clock } = fakeClock();
    const failure = () => new ProviderFailure('server_error', { status: 500 });
    const { attempt, calls } = scripted([failure(), failure(), failure()]);
    const error = await exhausted(runWithRetries(RETRY_POLICY, clock, attempt));
    expect(calls).toHaveLength(3);
    expect(error.failure.status).toBe(500);
    expect(errorCodeFor(error.code)).toBe('provider_request_failed');
  });

  it('does not retry a 400 (or any other non-retriable 4xx), and does not wait', async () => {
    for (const status of [400, 401, 403, 404, 408, 409, 422]) {
      const { clock, sleeps } = fakeClock();
      const { attempt, calls } = scripted([new ProviderFailure('client_error', { status })]);
      const error = await exhausted(runWithRetries(RETRY_POLICY, clock, attempt));
      expect(calls).toEqual([1]);
      expect(sleeps).toEqual([]);
      expect(error).toMatchObject({ code: 'client_error', attempts: 1, reason: 'not_retriable' });
      expect(errorCodeFor(error.code)).toBe('provider_request_failed');
    }
  });

  it('ends timeouts as provider_timeout', async () => {
    const { clock } = fakeClock();
    const error = await exhausted(
      runWithRetries(RETRY_POLICY, clock, scripted(['timeout', 'timeout', 'timeout']).attempt),
    );
    expect(errorCodeFor(error.code)).toBe('provider_timeout');
  });

  it('gives an invalid answer exactly one immediate retry, then provider_invalid_response', async () => {
    const { clock, sleeps } = fakeClock();
    const twice = scripted(['invalid_response', 'invalid_response']);
    const error = await exhausted(runWithRetries(RETRY_POLICY, clock, twice.attempt));
    expect(twice.calls).toEqual([1, 2]);
    expect(sleeps).toEqual([]);
    expect(error.reason).toBe('invalid_response_retry_used');
    expect(errorCodeFor(error.code)).toBe('provider_invalid_response');

    const once = scripted(['invalid_response']);
    await expect(runWithRetries(RETRY_POLICY, fakeClock().clock, once.attempt)).resolves.toMatchObject({
      attempts: 2,
    });
  });

  it('counts invalid answers within the 3 attempts', async () => {
    const { clock } = fakeClock();
    const { attempt, calls } = scripted(['server_error', 'server_error', 'invalid_response']);
    const error = await exhausted(runWithRetries(RETRY_POLICY, clock, attempt));
    expect(calls).toEqual([1, 2, 3]);
    expect(error).toMatchObject({ code: 'invalid_response', reason: 'attempts_exhausted' });
  });

  it('honours Retry-After: waits at least what the provider asked for', async () => {
    const { clock, sleeps } = fakeClock();
    const { attempt } = scripted([new ProviderFailure('rate_limited', { status: 429, retryAfterMs: 1_500 })]);
    await expect(runWithRetries(RETRY_POLICY, clock, attempt)).resolves.toMatchObject({ attempts: 2 });
    expect(sleeps).toEqual([1_500]);
    // A Retry-After shorter than the backoff does not shorten the backoff.
    const short = fakeClock();
    const quick = scripted([new ProviderFailure('server_error', { status: 503, retryAfterMs: 10 })]);
    await runWithRetries(RETRY_POLICY, short.clock, quick.attempt);
    expect(short.sleeps).toEqual([250]);
  });

  it('stops instead of retrying early when Retry-After does not fit in the 4 s budget', async () => {
    const { clock, sleeps } = fakeClock();
    const far = scripted([new ProviderFailure('rate_limited', { status: 429, retryAfterMs: 4_001 })]);
    const error = await exhausted(runWithRetries(RETRY_POLICY, clock, far.attempt));
    expect(far.calls).toEqual([1]);
    expect(sleeps).toEqual([]);
    expect(error).toMatchObject({ code: 'rate_limited', reason: 'delay_budget_exhausted' });

    // Exactly the budget is allowed.
    const edge = fakeClock();
    const atLimit = scripted([new ProviderFailure('rate_limited', { retryAfterMs: 4_000 })]);
    await expect(runWithRetries(RETRY_POLICY, edge.clock, atLimit.attempt)).resolves.toMatchObject({
      attempts: 2,
      waitedMs: 4_000,
    });

    // 3 s, then another 3 s would exceed 4 s: the second retry is not made.
    const twice = fakeClock();
    const three = () => new ProviderFailure('rate_limited', { retryAfterMs: 3_000 });
    const twoWaits = scripted([three(), three()]);
    const stopped = await exhausted(runWithRetries(RETRY_POLICY, twice.clock, twoWaits.attempt));
    expect(twoWaits.calls).toEqual([1, 2]);
    expect(twice.sleeps).toEqual([3_000]);
    expect(stopped).toMatchObject({ attempts: 2, waitedMs: 3_000, reason: 'delay_budget_exhausted' });
  });

  it('never waits more than 4 s in total, whatever the failures, jitter and Retry-After values', async () => {
    // Pseudo-random but reproducible scenarios, under the real policy and a policy with many attempts.
    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const kinds: FailureKind[] = ['timeout', 'network', 'rate_limited', 'server_error', 'invalid_response'];
    const policies: RetryPolicy[] = [RETRY_POLICY, { ...RETRY_POLICY, maxAttempts: 12 }];
    let maxWaited = 0;
    for (const policy of policies) {
      for (let scenario = 0; scenario < 2_000; scenario++) {
        const failures = Array.from({ length: 15 }, () => {
          const kind = kinds[Math.floor(rand() * kinds.length)]!;
          const withRetryAfter = rand() < 0.4;
          return new ProviderFailure(
            kind,
            withRetryAfter ? { retryAfterMs: Math.floor(rand() * 5_000) } : {},
          );
        });
        const { clock, sleeps, elapsed } = fakeClock(rand);
        const { attempt, calls } = scripted(failures);
        const result = await runWithRetries(policy, clock, attempt).then(
          (r) => r.waitedMs,
          (e: RetriesExhausted) => e.waitedMs,
        );
        expect(elapsed()).toBeLessThanOrEqual(4_000);
        expect(result).toBe(elapsed());
        expect(calls.length).toBeLessThanOrEqual(policy.maxAttempts);
        expect(sleeps.every((ms) => ms >= 0)).toBe(true);
        maxWaited = Math.max(maxWaited, elapsed());
      }
    }
    // The budget is reached in some scenarios, so the bound is what held them back.
    expect(maxWaited).toBeGreaterThan(3_000);
  });

  it('shortens a backoff to what is left of the budget', () => {
    const decision = decideRetry(
      { ...RETRY_POLICY, maxAttempts: 10 },
      { attempt: 6, waitedMs: 3_900, invalidResponses: 0 },
      new ProviderFailure('server_error'),
      () => 0.5,
    );
    expect(decision).toEqual({ retry: true, delayMs: 100 });
    expect(
      decideRetry(
        { ...RETRY_POLICY, maxAttempts: 10 },
        { attempt: 7, waitedMs: 4_000, invalidResponses: 0 },
        new ProviderFailure('server_error'),
        () => 0.5,
      ),
    ).toEqual({ retry: false, reason: 'delay_budget_exhausted' });
  });

  it('stops when the client cancels during a wait, without another attempt', async () => {
    const controller = new AbortController();
    const clock: RetryClock = {
      sleep: async () => {
        controller.abort();
        throw new Error('aborted');
      },
      random: () => 0.5,
    };
    const { attempt, calls } = scripted(['server_error', 'server_error']);
    const error = await exhausted(runWithRetries(RETRY_POLICY, clock, attempt, controller.signal));
    expect(calls).toEqual([1]);
    expect(error).toMatchObject({ code: 'cancelled', reason: 'cancelled' });
  });

  it('never retries a cancelled attempt, and never starts one after cancellation', async () => {
    const { attempt, calls } = scripted(['cancelled']);
    const error = await exhausted(runWithRetries(RETRY_POLICY, fakeClock().clock, attempt));
    expect(calls).toEqual([1]);
    expect(error.reason).toBe('cancelled');

    const controller = new AbortController();
    controller.abort();
    const never = scripted([]);
    await exhausted(runWithRetries(RETRY_POLICY, fakeClock().clock, never.attempt, controller.signal));
    expect(never.calls).toEqual([]);
  });

  it('lets unexpected errors (bugs) through at once', async () => {
    const boom = new TypeError('bug');
    let calls = 0;
    await expect(
      runWithRetries(RETRY_POLICY, fakeClock().clock, async () => {
        calls++;
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(calls).toBe(1);
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  it('reads retry-after-ms first, then Retry-After in seconds or as an HTTP date', () => {
    expect(parseRetryAfterMs({ retryAfterMs: '1500', retryAfter: '9' }, now)).toBe(1_500);
    expect(parseRetryAfterMs({ retryAfter: '2' }, now)).toBe(2_000);
    expect(parseRetryAfterMs({ retryAfter: '0.5' }, now)).toBe(500);
    expect(parseRetryAfterMs({ retryAfter: 'Sun, 01 Mar 2026 12:00:03 GMT' }, now)).toBe(3_000);
    expect(parseRetryAfterMs({ retryAfter: 'Sun, 01 Mar 2026 11:00:00 GMT' }, now)).toBe(0);
  });
  it('ignores absent or unusable values', () => {
    expect(parseRetryAfterMs({}, now)).toBeUndefined();
    expect(parseRetryAfterMs({ retryAfter: null, retryAfterMs: null }, now)).toBeUndefined();
    expect(parseRetryAfterMs({ retryAfter: 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfterMs({ retryAfter: '-1' }, now)).toBeUndefined();
    expect(parseRetryAfterMs({ retryAfterMs: 'x', retryAfter: '1' }, now)).toBe(1_000);
  });
});
