import { randomBytes } from 'node:crypto';
import { dropDatabase, ensureDatabase } from '@offload/local-infra';
import { inject } from 'vitest';

export interface TestInfra {
  /** A database of this test file's own. */
  databaseUrl: string;
  natsUrl: string;
  /** A NATS subject/stream namespace of this test file's own. */
  natsPrefix: string;
  adminUrl: string;
  cleanup(): Promise<void>;
}

/** Per-file isolation, so files run in parallel against one Postgres and one NATS. */
export async function createTestInfra(): Promise<TestInfra> {
  const adminUrl = inject('pgAdminUrl');
  const natsUrl = inject('natsUrl');
  const suffix = randomBytes(5).toString('hex');
  const name = `t_${suffix}`;
  const databaseUrl = await ensureDatabase(adminUrl, name);
  return {
    databaseUrl,
    natsUrl,
    natsPrefix: `t${suffix}`,
    adminUrl,
    cleanup: () => dropDatabase(adminUrl, name),
  };
}
