import type {
  BreakdownGenerateRequest,
  BreakdownGenerateResponse,
  BreakdownStep,
  EventData,
} from '@offload/contracts';
import type { AuthUser } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import type { BackgroundTasks } from '@offload/platform/runtime';
import { AppError } from '@offload/platform/errors';
import type { RequestLog } from './reserve-ai-quota.js';
import { withSpan } from '@offload/platform/telemetry';
import type { AiSchema } from '../db/schema.js';
import { parseBreakdownAnswer, totalTextChars } from '../domain/breakdown.js';
import type { InferenceLimiter } from '../domain/inference-limiter.js';
import { addUsage, type AiProvider, type TokenUsage } from '../domain/provider.js';
import {
  errorCodeFor,
  ProviderFailure,
  RetriesExhausted,
  runWithRetries,
  type FailureKind,
  type RetryClock,
  type RetryPolicy,
} from '../domain/retry-policy.js';
import { buildBreakdownPrompt } from '../prompts/breakdown.js';
import { recordAiRequest } from './record-ai-request.js';
import type { QuotaHold } from './reserve-ai-quota.js';

export interface GenerateBreakdownDeps {
  provider: AiProvider;
  database: Database<AiSchema>;
  /** Where the call's record is written, after the answer went out (the client does not wait for it). */
  background: BackgroundTasks;
  limiter: InferenceLimiter;
  retryPolicy: RetryPolicy;
  retryClock: RetryClock;
  maxInputChars: number;
  now: () => number;
}

export interface GenerateBreakdownInput {
  user: AuthUser;
  /** The client's address (behind the gateway: its X-Forwarded-For), for the per-IP inference limit. */
  ip: string;
  request: BreakdownGenerateRequest;
  /** The quota unit reserved before the body was read; settled here, whatever happens. */
  hold: QuotaHold;
  /** Aborts when the client disconnects: cancels the provider call, and the hold is released. */
  signal: AbortSignal;
  log: RequestLog;
}

type Outcome = EventData<'ai.request.completed'>['outcome'];

const MESSAGES: Record<string, string> = {
  provider_timeout: 'the AI provider did not answer in time',
  provider_invalid_response: 'the AI provider returned an answer we could not use',
  provider_request_failed: 'the AI provider could not handle the request',
};

/**
 * The breakdown after token, consent, quota and body checks (route): inference limit -> size -> provider
 * (bounded retries, one span per attempt) -> charge. The quota hold is committed only when the client
 * gets steps; any failure, limit or cancellation releases it. Nothing of the input or the answer is
 * logged, traced, stored or published: only counts, classes and timings.
 */
export async function generateBreakdown(
  deps: GenerateBreakdownDeps,
  input: GenerateBreakdownInput,
): Promise<BreakdownGenerateResponse> {
  try {
    const limit = deps.limiter.tryAcquire(
      { installId: input.user.installId ?? '', ip: input.ip },
      deps.now(),
    );
    if (!limit.allowed) {
      throw new AppError('inference_rate_limited', 'too many AI requests; try again later', {
        retryAfter: Math.max(1, Math.ceil(limit.retryAfterMs / 1000)),
      });
    }
    if (totalTextChars(input.request) > deps.maxInputChars) {
      throw new AppError(
        'request_too_large',
        `the text of a breakdown request is limited to ${deps.maxInputChars} characters in total`,
      );
    }
    return await callProvider(deps, input);
  } finally {
    if (input.hold.state === 'held') await input.hold.release();
  }
}

async function callProvider(
  deps: GenerateBreakdownDeps,
  input: GenerateBreakdownInput,
): Promise<BreakdownGenerateResponse> {
  const { provider } = deps;
  const prompt = buildBreakdownPrompt(input.request);
  const started = deps.now();
  let usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
  let attempts = 0;
  let waitedMs = 0;
  let outcome: Outcome = 'failed';
  let errorClass: FailureKind | 'internal' | undefined;
  let charged = false;

  try {
    const steps = await withSpan(
      'ai.breakdown.generate',
      {
        attributes: {
          'ai.feature': 'breakdown',
          'ai.provider': provider.name,
          'gen_ai.request.model': provider.model,
          'ai.prompt_version': prompt.version,
          'ai.granularity': input.request.granularity,
        },
      },
      async (span) => {
        try {
          const result = await runWithRetries(
            deps.retryPolicy,
            deps.retryClock,
            (n) => attempt(deps, prompt, n, input.signal, (u) => (usage = addUsage(usage, u))),
            input.signal,
          );
          attempts = result.attempts;
          waitedMs = result.waitedMs;
          return result.value;
        } catch (error) {
          if (error instanceof RetriesExhausted) {
            attempts = error.attempts;
            waitedMs = error.waitedMs;
            errorClass = error.code;
            span.setAttributes({ 'ai.error_class': error.code, 'ai.stop_reason': error.reason });
          }
          throw error;
        } finally {
          span.setAttributes({
            'ai.attempts': attempts,
            'ai.waited_ms': waitedMs,
            'gen_ai.usage.input_tokens': usage.input_tokens,
            'gen_ai.usage.output_tokens': usage.output_tokens,
          });
        }
      },
    );
    // The client left while the answer was on its way: it never sees the steps, so it is not charged.
    if (input.signal.aborted) {
      errorClass = 'cancelled';
      throw new RetriesExhausted(new ProviderFailure('cancelled'), attempts, waitedMs, 'cancelled');
    }
    charged = await input.hold.commit();
    outcome = 'succeeded';
    return {
      steps,
      provider: provider.name,
      latency_ms: Math.max(0, Math.round(deps.now() - started)),
      usage,
      prompt_version: prompt.version,
    };
  } catch (error) {
    if (!(error instanceof RetriesExhausted)) {
      errorClass ??= 'internal';
      throw error;
    }
    outcome = outcomeOf(error.code);
    const code = errorCodeFor(error.code);
    throw new AppError(code, MESSAGES[code] ?? 'the AI provider failed', { cause: error });
  } finally {
    const latencyMs = Math.max(0, Math.round(deps.now() - started));
    const summary = {
      feature: 'breakdown',
      outcome,
      provider: provider.name,
      attempts,
      waited_ms: waitedMs,
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      provider_latency_ms: latencyMs,
      charged,
      ...(errorClass ? { error_class: errorClass } : {}),
    };
    input.log[outcome === 'succeeded' ? 'info' : 'warn'](summary, 'ai request completed');
    // The record is metadata about a call whose charge usage already holds durably: it is written after
    // the answer goes out, and a graceful stop waits for it (see ADR 0010).
    const record = {
      user_id: input.user.userId,
      operation_id: input.hold.operationId,
      feature: 'breakdown',
      outcome,
      provider: provider.name,
      prompt_version: prompt.version,
      attempts,
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      latency_ms: latencyMs,
      charged,
    } as const;
    deps.background.run(
      () => recordAiRequest(deps, record),
      (error: unknown) =>
        input.log.error({ error: (error as { name?: string }).name }, 'ai.request.completed not recorded'),
    );
  }
}

/** One attempt in its own span: attempt number, token counts, and on failure the error class and status. */
function attempt(
  deps: GenerateBreakdownDeps,
  prompt: ReturnType<typeof buildBreakdownPrompt>,
  n: number,
  signal: AbortSignal,
  countUsage: (usage: TokenUsage) => void,
): Promise<BreakdownStep[]> {
  return withSpan(
    'ai.provider.attempt',
    {
      attributes: {
        'ai.attempt': n,
        'ai.provider': deps.provider.name,
        'gen_ai.request.model': deps.provider.model,
      },
    },
    async (span) => {
      try {
        const completion = await deps.provider.complete(
          { system: prompt.system, user: prompt.user, maxOutputTokens: prompt.maxOutputTokens, json: true },
          signal,
        );
        countUsage(completion.usage);
        span.setAttributes({
          'gen_ai.usage.input_tokens': completion.usage.input_tokens,
          'gen_ai.usage.output_tokens': completion.usage.output_tokens,
        });
        const steps = parseBreakdownAnswer(completion.text);
        if (!steps) throw new ProviderFailure('invalid_response');
        return steps;
      } catch (error) {
        if (error instanceof ProviderFailure && error.status !== undefined) {
          span.setAttribute('http.response.status_code', error.status);
        }
        throw error;
      }
    },
  );
}

function outcomeOf(kind: FailureKind): Outcome {
  switch (kind) {
    case 'timeout':
      return 'timed_out';
    case 'invalid_response':
      return 'invalid_response';
    case 'cancelled':
      return 'cancelled';
    default:
      return 'failed';
  }
}
