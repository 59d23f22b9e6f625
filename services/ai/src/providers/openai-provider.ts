import OpenAI from 'openai';
import type { AiProvider, Completion, CompletionRequest } from '../domain/provider.js';
import { ProviderFailure, parseRetryAfterMs } from '../domain/retry-policy.js';

export interface OpenAiProviderOptions {
  apiKey: string;
  /** Any OpenAI-compatible server (a local model, a proxy); OpenAI's own when absent. */
  baseUrl?: string | undefined;
  model: string;
  /** Bounds one whole attempt: connecting, waiting and reading the answer. */
  attemptTimeoutMs: number;
  now?: () => number;
}

/**
 * The OpenAI adapter on the official SDK. The SDK's own retries are off (`maxRetries: 0`): our policy
 * (domain/retry-policy.ts) decides about retries, so they are bounded exactly once. Its logger is off too,
 * because at debug level it would print request bodies, i.e. prompts.
 */
export function createOpenAiProvider(options: OpenAiProviderOptions): AiProvider {
  const now = options.now ?? Date.now;
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseUrl ?? null,
    organization: null,
    project: null,
    maxRetries: 0,
    // Our own timer below bounds the attempt; the SDK's is a backstop just behind it.
    timeout: options.attemptTimeoutMs + 1_000,
    logLevel: 'off',
  });

  return {
    name: 'openai',
    model: options.model,
    async complete(request: CompletionRequest, signal: AbortSignal): Promise<Completion> {
      if (signal.aborted) throw new ProviderFailure('cancelled');
      const attemptTimer = new AbortController();
      const timer = setTimeout(() => attemptTimer.abort(), options.attemptTimeoutMs);
      try {
        const completion = await client.chat.completions.create(
          {
            model: options.model,
            messages: [
              { role: 'system', content: request.system },
              { role: 'user', content: request.user },
            ],
            max_completion_tokens: request.maxOutputTokens,
            ...(request.json ? { response_format: { type: 'json_object' as const } } : {}),
          },
          { signal: AbortSignal.any([signal, attemptTimer.signal]), maxRetries: 0 },
        );
        return {
          text: completion.choices[0]?.message?.content ?? '',
          usage: {
            input_tokens: completion.usage?.prompt_tokens ?? 0,
            output_tokens: completion.usage?.completion_tokens ?? 0,
          },
        };
      } catch (error) {
        throw toProviderFailure(error, {
          cancelled: signal.aborted,
          timedOut: attemptTimer.signal.aborted,
          nowMs: now(),
        });
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Maps whatever the SDK threw to one failure kind. Messages are dropped: they may quote the prompt. */
export function toProviderFailure(
  error: unknown,
  context: { cancelled: boolean; timedOut: boolean; nowMs: number },
): ProviderFailure {
  if (context.cancelled) return new ProviderFailure('cancelled', { cause: classOnly(error) });
  if (context.timedOut || error instanceof OpenAI.APIConnectionTimeoutError) {
    return new ProviderFailure('timeout', { cause: classOnly(error) });
  }
  if (error instanceof OpenAI.APIUserAbortError) return new ProviderFailure('cancelled');
  if (error instanceof OpenAI.APIConnectionError) {
    return new ProviderFailure('network', { cause: classOnly(error) });
  }
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    const status = error.status;
    const retryAfterMs = parseRetryAfterMs(
      { retryAfterMs: error.headers?.get('retry-after-ms'), retryAfter: error.headers?.get('retry-after') },
      context.nowMs,
    );
    const kind = status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : 'client_error';
    return new ProviderFailure(kind, {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: classOnly(error),
    });
  }
  // A 2xx whose body is not a chat completion (not JSON, cut short): the provider answered nonsense.
  if (error instanceof SyntaxError || error instanceof OpenAI.OpenAIError) {
    return new ProviderFailure('invalid_response', { cause: classOnly(error) });
  }
  // Anything else raised below fetch (socket reset, DNS) is a network failure.
  return new ProviderFailure('network', { cause: classOnly(error) });
}

/** Keeps the class name of a cause, never its message (which may quote user input). */
function classOnly(error: unknown): { name: string } {
  const e = error as { name?: string; constructor?: { name?: string } } | undefined;
  // The SDK's error classes keep `name` = 'Error'; their constructor names say what happened.
  const name = e?.name && e.name !== 'Error' ? e.name : (e?.constructor?.name ?? 'Error');
  return { name: name || 'Error' };
}
