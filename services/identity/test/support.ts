import { createHash, randomUUID } from 'node:crypto';
import type { TokenBundle } from '@offload/contracts';
import type { App } from '@offload/platform/http';
import { createLogger } from '@offload/platform/logger';
import { connectBus, type Bus } from '@offload/platform/nats';
import { createTestInfra, LogCapture, type TestInfra } from '@offload/testing';
import { buildIdentityApp } from '../src/app.js';
import { loadIdentityConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createIdentityRuntime, type IdentityRuntime } from '../src/deps.js';

export interface IdentityUnderTest {
  infra: TestInfra;
  runtime: IdentityRuntime;
  app: App;
  logs: LogCapture;
  close(): Promise<void>;
}

/** The identity service on a database and NATS namespace of the test file's own (or a shared one). */
export async function startIdentity(
  options: { env?: Record<string, string>; infra?: TestInfra; migrate?: boolean } = {},
): Promise<IdentityUnderTest> {
  const ownInfra = options.infra === undefined;
  const infra = options.infra ?? (await createTestInfra());
  if (options.migrate !== false) await migrate(infra.databaseUrl);
  const logs = new LogCapture();
  const config = loadIdentityConfig({
    DATABASE_URL: infra.databaseUrl,
    NATS_URL: infra.natsUrl,
    NATS_SUBJECT_PREFIX: infra.natsPrefix,
    LOG_LEVEL: 'debug',
    ERASURE_SERVICES: 'identity',
    ...options.env,
  });
  const runtime = await createIdentityRuntime(config, {
    logger: createLogger({ service: 'identity', level: 'debug', destination: logs }),
  });
  const app = await buildIdentityApp(runtime);
  return {
    infra,
    runtime,
    app,
    logs,
    async close() {
      await app.close();
      await runtime.close();
      if (ownInfra) await infra.cleanup();
    },
  };
}

/** A second NATS connection in the test's namespace, playing another service or the gateway. */
export function connectTestBus(infra: TestInfra, name = 'identity-test'): Promise<Bus> {
  return connectBus({
    url: infra.natsUrl,
    name,
    prefix: infra.natsPrefix,
    logger: createLogger({ service: name, level: 'silent' }),
  });
}

export const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

export const newInstallId = () => `install-${randomUUID()}`;

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** `POST /v1/sessions/anonymous`; the bundle when it answered 201. */
export async function anonymousSession(
  app: App,
  options: { installId?: string; ip?: string; headers?: Record<string, string> } = {},
) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/sessions/anonymous',
    payload: { install_id: options.installId ?? newInstallId(), app_version: '2.0.0', platform: 'ios' },
    ...(options.ip ? { remoteAddress: options.ip } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  return { res, bundle: res.statusCode === 201 ? (res.json() as TokenBundle) : undefined };
}

export async function refresh(app: App, refreshToken: string) {
  return app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: refreshToken } });
}

export async function getMe(app: App, accessToken: string) {
  return app.inject({ method: 'GET', url: '/v1/users/me', headers: bearer(accessToken) });
}

export async function count(
  runtime: IdentityRuntime,
  query: string,
  params: unknown[] = [],
): Promise<number> {
  const [row] = await runtime.database.sql.unsafe<{ n: string }[]>(query, params as never[]);
  return Number(row!.n);
}

/** Payloads of the outbox events of `type` about `userId`, oldest first. */
export async function outboxEvents<T = Record<string, unknown>>(
  runtime: IdentityRuntime,
  type: string,
  userId: string,
): Promise<T[]> {
  const rows = await runtime.database.sql.unsafe<{ payload: T }[]>(
    `select payload from identity.outbox where type = $1 and payload->>'subject' = $2 order by created_at, id`,
    [type, userId],
  );
  return rows.map((r) => r.payload);
}
