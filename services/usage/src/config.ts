import { baseServiceEnv, env, loadConfig } from '@offload/platform/config';
import { z } from 'zod';

/** Whole numbers within bounds, from an environment string. */
const bounded = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const UsageEnv = baseServiceEnv.extend({
  PORT: env.port(3003),
  /** How long JetStream waits for a consumer's ack before redelivering. */
  CONSUMER_ACK_WAIT_MS: bounded(30_000, 500, 300_000),
  /**
   * Monthly quota of AI actions per metered feature on the free tier (DESIGN 8: 100). Every feature
   * meter (`ai_breakdown` and any other a client reconciles) has this quota, per user and UTC month.
   */
  FREE_MONTHLY_AI_ACTIONS: bounded(100, 0, 1_000_000).describe('monthly AI actions per feature, free tier'),
  /** The same for the pro tier. */
  PRO_MONTHLY_AI_ACTIONS: bounded(1000, 0, 1_000_000).describe('monthly AI actions per feature, pro tier'),
  /** How often holds past their TTL are marked expired (they stop counting at their TTL regardless). */
  RESERVATION_SWEEP_MS: bounded(30_000, 100, 3_600_000),
  /** Settled reservations (and so their operation ids' idempotency) are kept this many days. */
  RESERVATION_RETENTION_DAYS: bounded(7, 1, 90),
});
export type UsageConfig = z.infer<typeof UsageEnv>;

export const loadUsageConfig = (source: Record<string, string | undefined> = process.env) =>
  loadConfig('usage', UsageEnv, source);
