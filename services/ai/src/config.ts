import { baseServiceEnv, env, loadConfig } from '@offload/platform/config';
import { z } from 'zod';

const int = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const AiEnv = baseServiceEnv.extend({
  PORT: env.port(3002),
  /** The provider key. No default: without it the AI routes answer 503 `provider_unavailable`. */
  OPENAI_API_KEY: z.string().min(1).optional(),
  /** Any OpenAI-compatible endpoint (a local model, a proxy, a test fake); OpenAI's own when unset. */
  OPENAI_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  OPENAI_MODEL: z.string().min(1).max(128).default('gpt-4o-mini'),
  /** Bounds one provider attempt (connect, wait, read); at most 3 attempts per call (DESIGN 7). */
  OPENAI_ATTEMPT_TIMEOUT_MS: int(100, 300_000, 20_000),
  /** The most text (input + hints + template ids) one breakdown request may carry; more is 413. */
  AI_MAX_INPUT_CHARS: int(1, 100_000, 4_000),
  /** Inference limits per install id and per client IP, in a sliding window (DESIGN 7). */
  AI_INFERENCE_LIMIT_PER_INSTALL: int(1, 100_000, 20),
  AI_INFERENCE_LIMIT_PER_IP: int(1, 1_000_000, 120),
  AI_INFERENCE_WINDOW_MS: int(1_000, 3_600_000, 60_000),
  /**
   * Addresses whose X-Forwarded-For is believed (the gateway's): `loopback`, `uniquelocal`, CIDRs, comma
   * separated. The per-IP limit then sees the client's address instead of the gateway's.
   */
  AI_TRUSTED_PROXIES: z.string().min(1).default('loopback'),
  /** How long a usage reservation RPC may take before the call answers 503. */
  USAGE_RPC_TIMEOUT_MS: int(100, 60_000, 3_000),
});
export type AiConfig = z.infer<typeof AiEnv>;

export const loadAiConfig = (source: Record<string, string | undefined> = process.env) =>
  loadConfig('ai', AiEnv, source);

/** `AI_TRUSTED_PROXIES` as Fastify's `trustProxy` wants it. */
export const trustedProxies = (config: Pick<AiConfig, 'AI_TRUSTED_PROXIES'>): string[] =>
  config.AI_TRUSTED_PROXIES.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
