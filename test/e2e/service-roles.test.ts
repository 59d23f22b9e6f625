import { randomUUID } from 'node:crypto';
import { serviceRoleName, serviceRoleUrl, derivedRolePassword } from '@offload/platform/db';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

/**
 * One Postgres role per service (DESIGN 2, ADR 0001): the running system's services connect as their
 * own roles, and a role cannot read what another service owns.
 */
const SCHEMAS = ['identity', 'usage', 'tasks', 'ai', 'billing', 'voice'] as const;
let system: RunningSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

describe('service roles', () => {
  it('every service connects to Postgres as its own role', async () => {
    // Some traffic, so the services' pools hold connections.
    const session = await anonymousSession(system.gatewayUrl, `install-${randomUUID()}`);
    const created = await call(system.gatewayUrl, 'POST', '/v1/tasks', {
      token: session.session_token,
      body: { title: 'role check' },
    });
    expect(created.status).toBe(201);
    const rows = await system.sql<{ role: string; app: string }[]>`
      select distinct usename as role, application_name as app
      from pg_stat_activity where datname = current_database() and application_name = any(${SCHEMAS as unknown as string[]})`;
    for (const schema of ['identity', 'tasks', 'usage'])
      expect(rows.filter((r) => r.app === schema).map((r) => r.role)).toEqual([serviceRoleName(schema)]);
    for (const row of rows) expect(row.role).toBe(serviceRoleName(row.app));
  });

  it("a service's role is refused every other service's schema", async () => {
    const adminUrl = system.infra.databaseUrl;
    for (const schema of SCHEMAS) {
      const sql = postgres(serviceRoleUrl(adminUrl, schema, derivedRolePassword(adminUrl, schema)), {
        max: 1,
        onnotice: () => {},
      });
      try {
        for (const other of SCHEMAS.filter((s) => s !== schema)) {
          const error = await sql`select count(*) from ${sql(other)}.outbox`.then(
            () => undefined,
            (e: unknown) => e as { code?: string },
          );
          expect(error?.code, `${schema} reading ${other}.outbox`).toBe('42501');
        }
        await sql`select count(*) from ${sql(schema)}.outbox`;
      } finally {
        await sql.end();
      }
    }
  });
});
