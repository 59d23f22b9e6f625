import type { Writable } from 'node:stream';
import { provisionServiceRole } from '@offload/platform/db';
import { createLogger } from '@offload/platform/logger';
import type { App } from '@offload/platform/http';
import { createTestInfra, LogCapture, type TestInfra } from '@offload/testing';
import { importJWK, type CryptoKey } from 'jose';
import postgres, { type Sql } from 'postgres';
import { buildAiApp } from '@offload/ai/app';
import { loadAiConfig } from '@offload/ai/config';
import { createAiRuntime } from '@offload/ai/deps';
import { migrate as migrateAi } from '@offload/ai/migrate';
import { buildBillingApp } from '@offload/billing/app';
import { loadBillingConfig } from '@offload/billing/config';
import { createBillingRuntime } from '@offload/billing/deps';
import { migrate as migrateBilling } from '@offload/billing/migrate';
import { buildGatewayApp } from '@offload/gateway/app';
import { loadGatewayConfig } from '@offload/gateway/config';
import { createGatewayRuntime } from '@offload/gateway/deps';
import { buildIdentityApp } from '@offload/identity/app';
import { loadIdentityConfig } from '@offload/identity/config';
import { createIdentityRuntime } from '@offload/identity/deps';
import { migrate as migrateIdentity } from '@offload/identity/migrate';
import { buildTasksApp } from '@offload/tasks/app';
import { loadTasksConfig } from '@offload/tasks/config';
import { createTasksRuntime } from '@offload/tasks/deps';
import { migrate as migrateTasks } from '@offload/tasks/migrate';
import { buildUsageApp } from '@offload/usage/app';
import { loadUsageConfig } from '@offload/usage/config';
import { createUsageRuntime } from '@offload/usage/deps';
import { migrate as migrateUsage } from '@offload/usage/migrate';
import { buildVoiceApp } from '@offload/voice/app';
import { loadVoiceConfig } from '@offload/voice/config';
import { createVoiceRuntime } from '@offload/voice/deps';
import { migrate as migrateVoice } from '@offload/voice/migrate';

type Env = Record<string, string | undefined>;
interface Runtime {
  close(): Promise<void>;
}

interface ServiceDefinition {
  migrate(url: string): Promise<void>;
  start(env: Env, logger: ReturnType<typeof createLogger>): Promise<{ app: App; runtime: Runtime }>;
}

const SERVICES = {
  identity: {
    migrate: migrateIdentity,
    start: async (env, logger) => {
      const runtime = await createIdentityRuntime(loadIdentityConfig(env), { logger });
      return { app: await buildIdentityApp(runtime), runtime };
    },
  },
  usage: {
    migrate: migrateUsage,
    start: async (env, logger) => {
      const runtime = await createUsageRuntime(loadUsageConfig(env), { logger });
      return { app: await buildUsageApp(runtime), runtime };
    },
  },
  tasks: {
    migrate: migrateTasks,
    start: async (env, logger) => {
      const runtime = await createTasksRuntime(loadTasksConfig(env), { logger });
      return { app: await buildTasksApp(runtime), runtime };
    },
  },
  ai: {
    migrate: migrateAi,
    start: async (env, logger) => {
      const runtime = await createAiRuntime(loadAiConfig(env), { logger });
      return { app: await buildAiApp(runtime), runtime };
    },
  },
  billing: {
    migrate: migrateBilling,
    start: async (env, logger) => {
      const runtime = await createBillingRuntime(loadBillingConfig(env), { logger });
      return { app: await buildBillingApp(runtime), runtime };
    },
  },
  voice: {
    migrate: migrateVoice,
    start: async (env, logger) => {
      const runtime = await createVoiceRuntime(loadVoiceConfig(env), { logger });
      return { app: await buildVoiceApp(runtime), runtime };
    },
  },
} satisfies Record<string, ServiceDefinition>;

export type ServiceName = keyof typeof SERVICES;

export interface SystemOptions {
  /** A NATS of the test's own (e.g. one it kills); defaults to the shared one. */
  natsUrl?: string;
  /** Where every service's log lines go; defaults to a throwaway capture. */
  logs?: Writable;
  logLevel?: string;
  env?: Env;
}

export interface RunningSystem {
  gatewayUrl: string;
  urls: Record<ServiceName, string>;
  infra: TestInfra;
  /** A connection to the system's database, for assertions on effects. */
  sql: Sql;
  /** identity's active signing key, to mint tokens identity would (e.g. already expired ones). */
  identitySigningKey(): Promise<{ key: CryptoKey; kid: string }>;
  stop(): Promise<void>;
}

/**
 * Starts every service and the gateway in this process, each on its own 127.0.0.1 port, against one
 * database (a schema and a role per service, as `npm start` does) and one NATS namespace of the test file's own.
 * Requests go over real HTTP; only the processes are shared.
 */
export async function startSystem(options: SystemOptions = {}): Promise<RunningSystem> {
  const infra = await createTestInfra();
  const logs = options.logs ?? new LogCapture();
  const env: Env = {
    DATABASE_URL: infra.databaseUrl,
    NATS_URL: options.natsUrl ?? infra.natsUrl,
    NATS_SUBJECT_PREFIX: infra.natsPrefix,
    LOG_LEVEL: options.logLevel ?? 'info',
    APP_ENV: 'test',
    // Every test client shares 127.0.0.1: per-IP session limits are tested on their own, not here.
    SESSION_RATE_LIMIT_PER_IP: '10000',
    SESSION_RATE_LIMIT_PER_INSTALL_ID: '10000',
    // The gateway's limits have their own tests (services/gateway/test/security/rate-limits.test.ts).
    RATE_LIMIT_AUTH_PER_IP: '10000',
    RATE_LIMIT_PER_USER: '10000',
    RATE_LIMIT_AI_PER_USER: '10000',
    ...options.env,
  };
  for (const def of Object.values(SERVICES)) await def.migrate(infra.databaseUrl);

  const started: Array<{ app: App; runtime: Runtime }> = [];
  const urls = {} as Record<ServiceName, string>;
  for (const [name, def] of Object.entries(SERVICES) as [ServiceName, ServiceDefinition][]) {
    const logger = createLogger({ service: name, level: env.LOG_LEVEL, destination: logs });
    // Each service connects as its own role, as `npm start` runs it (DESIGN 2): one that reaches for
    // another service's schema, or for DDL, fails here.
    const databaseUrl = await provisionServiceRole({ adminUrl: infra.databaseUrl, schema: name });
    const service = await def.start({ ...env, DATABASE_URL: databaseUrl, PORT: '0' }, logger);
    urls[name] = await service.app.listen({ port: 0, host: '127.0.0.1' });
    started.push(service);
  }

  const gatewayEnv: Env = {
    ...env,
    GATEWAY_PORT: '0',
    IDENTITY_URL: urls.identity,
    AI_URL: urls.ai,
    USAGE_URL: urls.usage,
    TASKS_URL: urls.tasks,
    BILLING_URL: urls.billing,
    VOICE_URL: urls.voice,
  };
  const gatewayLogger = createLogger({ service: 'gateway', level: env.LOG_LEVEL, destination: logs });
  const gatewayRuntime = await createGatewayRuntime(loadGatewayConfig(gatewayEnv), { logger: gatewayLogger });
  const gateway = await buildGatewayApp(gatewayRuntime);
  const gatewayUrl = await gateway.listen({ port: 0, host: '127.0.0.1' });
  const sql = postgres(infra.databaseUrl, { max: 2, onnotice: () => {} });

  return {
    gatewayUrl,
    urls,
    infra,
    sql,
    async identitySigningKey() {
      const [row] = await sql<{ kid: string; private_jwk: Record<string, unknown> }[]>`
        select kid, private_jwk from identity.signing_keys where retired_at is null order by created_at desc limit 1`;
      if (!row) throw new Error('identity has no signing key');
      return { key: (await importJWK(row.private_jwk, 'EdDSA')) as CryptoKey, kid: row.kid };
    },
    async stop() {
      await gateway.close();
      await gatewayRuntime.close();
      for (const { app, runtime } of started.reverse()) {
        await app.close();
        await runtime.close();
      }
      await sql.end({ timeout: 2 });
      await infra.cleanup();
    },
  };
}
