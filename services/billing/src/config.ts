import { baseServiceEnv, env, loadConfig } from '@offload/platform/config';
import type { z } from 'zod';

export const BillingEnv = baseServiceEnv.extend({
  PORT: env.port(3005),
});
export type BillingConfig = z.infer<typeof BillingEnv>;

export const loadBillingConfig = (source: Record<string, string | undefined> = process.env) =>
  loadConfig('billing', BillingEnv, source);
