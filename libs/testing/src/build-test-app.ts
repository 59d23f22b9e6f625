import type { JwksSource } from '@offload/platform/auth';
import { provisionServiceRole } from '@offload/platform/db';
import type { App } from '@offload/platform/http';
import { createLogger, type Logger } from '@offload/platform/logger';
import { createTestInfra, type TestInfra } from './infra.js';
import { LogCapture } from './logs.js';
import { createTestSigner } from './tokens.js';

/** What a service module offers to be built for a test: the same pieces its server.ts uses. */
export interface ServiceModule<Config, Runtime extends { close(): Promise<void> }> {
  name: string;
  migrate?: (databaseUrl: string) => Promise<void>;
  loadConfig: (env: Record<string, string | undefined>) => Config;
  createRuntime: (config: Config, overrides: { logger?: Logger; jwks?: JwksSource }) => Promise<Runtime>;
  buildApp: (runtime: Runtime) => Promise<App>;
}

export interface TestApp<Runtime> {
  app: App;
  runtime: Runtime;
  infra: TestInfra;
  logs: LogCapture;
  signer: Awaited<ReturnType<typeof createTestSigner>>;
  /** Bearer header for a fresh token of `sub` (a new user when omitted). */
  auth(
    claims?: Parameters<Awaited<ReturnType<typeof createTestSigner>>['token']>[0],
  ): Promise<{ authorization: string }>;
  close(): Promise<void>;
}

/**
 * Builds one service against its own fresh database and NATS namespace, with a captured logger and a
 * test signing key its token verifier trusts. Use with `app.inject` (no port).
 */
export async function buildTestApp<Config, Runtime extends { close(): Promise<void> }>(
  service: ServiceModule<Config, Runtime>,
  options: { env?: Record<string, string | undefined>; logLevel?: string } = {},
): Promise<TestApp<Runtime>> {
  const infra = await createTestInfra();
  const signer = await createTestSigner();
  const logs = new LogCapture();
  let databaseUrl = infra.databaseUrl;
  if (service.migrate) {
    await service.migrate(infra.databaseUrl);
    // The service connects as its own role, as in `npm start` (ADR 0001); the test keeps `infra`'s URL.
    databaseUrl = await provisionServiceRole({ adminUrl: infra.databaseUrl, schema: service.name });
  }
  const config = service.loadConfig({
    DATABASE_URL: databaseUrl,
    NATS_URL: infra.natsUrl,
    NATS_SUBJECT_PREFIX: infra.natsPrefix,
    ...options.env,
  });
  const runtime = await service.createRuntime(config, {
    logger: createLogger({ service: service.name, level: options.logLevel ?? 'info', destination: logs }),
    jwks: signer.jwks,
  });
  const app = await service.buildApp(runtime);
  return {
    app,
    runtime,
    infra,
    logs,
    signer,
    auth: async (claims) => ({ authorization: `Bearer ${await signer.token(claims)}` }),
    async close() {
      await app.close();
      await runtime.close();
      await infra.cleanup();
    },
  };
}
