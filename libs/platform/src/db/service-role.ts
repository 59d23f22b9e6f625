import { createHash } from 'node:crypto';
import postgres from 'postgres';

/**
 * One Postgres role per service (DESIGN 2, ADR 0001): the role a service connects as may read and write
 * the tables of its own schema, run its functions and LISTEN/NOTIFY, and nothing else: no other
 * service's schema, no DDL (migrations run as the admin role that owns the tables).
 */
export function serviceRoleName(schema: string): string {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(schema)) throw new Error(`not a schema name: ${schema}`);
  return `offload_${schema}`;
}

/**
 * The local default password of a service's role: derived from the admin URL's credentials, so every
 * process that knows the admin URL (the launcher, the test harness) arrives at the same one and a
 * concurrent provisioning never changes it under a running service. Deployments pass their own.
 */
export function derivedRolePassword(adminUrl: string, schema: string): string {
  const url = new URL(adminUrl);
  return createHash('sha256')
    .update(`offload-service-role\n${url.username}\n${decodeURIComponent(url.password)}\n${schema}`)
    .digest('base64url')
    .slice(0, 32);
}

/** `adminUrl` with the service role's credentials in place of the admin's. */
export function serviceRoleUrl(adminUrl: string, schema: string, password: string): string {
  const url = new URL(adminUrl);
  url.username = serviceRoleName(schema);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/**
 * Creates the service's login role when it is missing (roles belong to the whole server, so tests on
 * several databases share it) and grants it its own schema in the database of `adminUrl`: USAGE, DML
 * on every table, sequences, EXECUTE on its functions, and the same for tables later migrations add
 * (default privileges of the migrating role). Run it after the schema's migrations, as a role that may
 * create roles (the admin). Idempotent, and safe to run from several processes at once. Returns the URL
 * the service should use. Without a `password`, the role gets the local default (`derivedRolePassword`).
 */
export async function provisionServiceRole(options: {
  adminUrl: string;
  schema: string;
  password?: string;
}): Promise<string> {
  const role = serviceRoleName(options.schema);
  const schema = options.schema;
  const password = options.password ?? derivedRolePassword(options.adminUrl, schema);
  const sql = postgres(options.adminUrl, { max: 1, onnotice: () => {} });
  try {
    await ensureRole(sql, role, password);
    const [row] = await sql<{ db: string }[]>`select current_database() as db`;
    const on = ident(schema);
    await sql.begin(async (tx) => {
      // Serialises concurrent grants in this database (they would race on the catalog rows).
      await tx`select pg_advisory_xact_lock(hashtext(${`offload-role:${role}`}))`;
      // One round trip: no parameters, so the statements go as one simple query.
      await tx.unsafe(`
        grant connect, temporary on database ${ident(row!.db)} to ${role};
        grant usage on schema ${on} to ${role};
        grant select, insert, update, delete on all tables in schema ${on} to ${role};
        grant usage, select, update on all sequences in schema ${on} to ${role};
        grant execute on all functions in schema ${on} to ${role};
        alter default privileges in schema ${on} grant select, insert, update, delete on tables to ${role};
        alter default privileges in schema ${on} grant usage, select, update on sequences to ${role};
        alter default privileges in schema ${on} grant execute on functions to ${role};
        -- drizzle's bookkeeping is the migrating role's business.
        revoke all on table ${on}."__migrations" from ${role};
      `);
    });
    return serviceRoleUrl(options.adminUrl, schema, password);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Creates the login role, or sets its password when it exists (so a deployment's new password takes
 * effect). Concurrent processes (test files on one server) may race: whoever loses retries.
 */
async function ensureRole(sql: postgres.Sql, role: string, password: string): Promise<void> {
  // A password can't be a bind parameter in CREATE/ALTER ROLE; it is quoted as a literal.
  for (let attempt = 1; ; attempt++) {
    try {
      const [exists] = await sql`select 1 from pg_roles where rolname = ${role}`;
      await sql.unsafe(`${exists ? 'alter' : 'create'} role ${role} login password ${literal(password)}`);
      return;
    } catch (error) {
      // duplicate_object / unique_violation (created meanwhile), or "tuple concurrently updated".
      const code = (error as { code?: string }).code;
      if (attempt >= 5 || !['42710', '23505', 'XX000'].includes(code ?? '')) throw error;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
