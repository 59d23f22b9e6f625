import { newId, type EventOf } from '@offload/contracts';
import type { ServiceModule } from '@offload/testing';
import { buildUsageApp } from '../src/app.js';
import { loadUsageConfig, type UsageConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createUsageRuntime, type UsageRuntime } from '../src/deps.js';

/** The usage service as `buildTestApp` builds it: the same pieces server.ts uses. */
export const usageService: ServiceModule<UsageConfig, UsageRuntime> = {
  name: 'usage',
  migrate,
  loadConfig: loadUsageConfig,
  createRuntime: createUsageRuntime,
  buildApp: buildUsageApp,
};

/** An `identity.user.created` event as identity publishes it. */
export function userCreated(userId: string = newId()): EventOf<'identity.user.created'> {
  return {
    id: newId(),
    type: 'identity.user.created',
    source: 'identity',
    time: new Date().toISOString(),
    subject: userId,
    data: { user_id: userId, anonymous: true, tier: 'free' },
  };
}
