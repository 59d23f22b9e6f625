import { z } from 'zod';
import { Timestamp } from '../ids.js';
import { page } from './common.js';

export const CreditBalance = z.object({
  daily: z.number().int().nonnegative(),
  subscription: z.number().int().nonnegative(),
  purchased: z.number().int().nonnegative(),
  kickstart: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  daily_reset_at: Timestamp,
});
export type CreditBalance = z.infer<typeof CreditBalance>;

/** A usage period: one UTC month, `YYYY-MM` (DESIGN 8). */
export const UsagePeriod = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected YYYY-MM');
export type UsagePeriod = z.infer<typeof UsagePeriod>;

/**
 * The name of a metered feature, e.g. `ai_breakdown`: 1-64 characters of letters, digits and `_ . : -`,
 * starting with a letter or digit. An identifier, never free text (it appears in events).
 */
export const MeterFeature = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'letters, digits, _ . : - only');
export type MeterFeature = z.infer<typeof MeterFeature>;

/** The most a client may report for one device, feature and month. */
export const MAX_LOCAL_COUNT = 1_000_000;

/** `POST /v1/usage/reconcile` (DESIGN 8): the device's own count of a feature's uses this month. */
export const ReconcileRequest = z
  .object({
    install_id: z.string().min(8).max(128),
    feature: MeterFeature,
    local_count: z.number().int().min(0).max(MAX_LOCAL_COUNT),
    /** Start of the client's counting window; offsets are accepted. */
    since: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type ReconcileRequest = z.infer<typeof ReconcileRequest>;

export const ReconcileResponse = z.object({
  /** The user's total for the feature this UTC month, over every device. */
  server_count: z.number().int().nonnegative(),
  /** quota - server_count, never below 0. */
  effective_remaining: z.number().int().nonnegative(),
  reconciled_at: Timestamp,
});
export type ReconcileResponse = z.infer<typeof ReconcileResponse>;

/** One meter of `GET /v1/usage`: a feature in one month, summed over the user's devices. */
export const UsageMeter = z.object({
  feature: MeterFeature,
  period: UsagePeriod,
  device_count: z.number().int().nonnegative(),
  server_count: z.number().int().nonnegative(),
  quota: z.number().int().nonnegative(),
  effective_remaining: z.number().int().nonnegative(),
});
export type UsageMeter = z.infer<typeof UsageMeter>;

export const UsageMeterPage = page(UsageMeter);
export type UsageMeterPage = z.infer<typeof UsageMeterPage>;
