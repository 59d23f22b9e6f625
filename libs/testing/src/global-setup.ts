import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findOrStartNats, findOrStartPostgres } from '@offload/local-infra';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    natsUrl: string;
  }
}

/**
 * Runs once per `vitest run`: finds Postgres and NATS (TEST_DATABASE_URL / TEST_NATS_URL, else DATABASE_URL /
 * NATS_URL; the standard
 * local ports), else starts throwaway ones (testcontainers when a Docker engine answers, else embedded
 * under `.data/test`). Each test file then makes its own database and NATS namespace.
 */
export default async function setup(project: TestProject) {
  const dataDir = join(process.cwd(), '.data', 'test', String(process.pid));
  const pg = await findOrStartPostgres({
    dataDir,
    persistent: false,
    env: { ...process.env, DATABASE_URL: process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL },
  });
  const nats = await findOrStartNats({
    storeDir: join(dataDir, 'nats'),
    throwaway: true,
    env: { ...process.env, NATS_URL: process.env.TEST_NATS_URL ?? process.env.NATS_URL },
  });
  project.provide('pgAdminUrl', pg.adminUrl);
  project.provide('natsUrl', nats.url);
  return async () => {
    await nats.stop();
    await pg.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
