import type { ServiceModule } from '@offload/testing';
import { buildBillingApp } from '../src/app.js';
import { loadBillingConfig, type BillingConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createBillingRuntime, type BillingRuntime } from '../src/deps.js';

/** The billing service as `buildTestApp` builds it: the same pieces server.ts uses. */
export const billingService: ServiceModule<BillingConfig, BillingRuntime> = {
  name: 'billing',
  migrate,
  loadConfig: loadBillingConfig,
  createRuntime: createBillingRuntime,
  buildApp: buildBillingApp,
};
