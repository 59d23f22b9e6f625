/**
 * The provider port (DESIGN 7): one chat completion, one attempt. Adapters (OpenAI, any OpenAI-compatible
 * server) map every failure to a `ProviderFailure` kind; retries, spans and charging live above this line.
 */
export interface CompletionRequest {
  system: string;
  user: string;
  /** Upper bound on the answer's length, in tokens. */
  maxOutputTokens: number;
  /** Ask for a JSON object answer (structured output). */
  json: boolean;
}

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
}

export interface Completion {
  text: string;
  usage: TokenUsage;
}

export interface AiProvider {
  /** Shown to clients as `provider`, e.g. `openai`. */
  readonly name: string;
  readonly model: string;
  /**
   * One attempt, bounded by the adapter's per-attempt timeout. Aborting `signal` (the client went away)
   * cancels the request and fails with kind `cancelled`.
   */
  complete(request: CompletionRequest, signal: AbortSignal): Promise<Completion>;
}

export const addUsage = (a: TokenUsage, b: TokenUsage): TokenUsage => ({
  input_tokens: a.input_tokens + b.input_tokens,
  output_tokens: a.output_tokens + b.output_tokens,
});
