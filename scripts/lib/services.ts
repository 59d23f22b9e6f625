import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (scripts/lib/ is two levels below it). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Every service behind the gateway, in start order. Each one lives in `services/<name>`, owns the
 * Postgres schema `<name>`, starts from `src/server.ts` and exports `migrate(databaseUrl)` from
 * `@offload/<name>/migrate`. The gateway finds it through `<NAME>_URL`. Adding a service means adding
 * its name here (README: "How to add a service").
 */
export const BACKEND_SERVICES = ['identity', 'usage', 'tasks', 'ai', 'billing', 'voice'] as const;
export type BackendService = (typeof BACKEND_SERVICES)[number];

export const GATEWAY = 'gateway';

/** The env var that tells the gateway where a service listens, e.g. `TASKS_URL`. */
export const urlVariableOf = (service: BackendService) => `${service.toUpperCase()}_URL`;

/** The entry file a service process runs. */
export const entryOf = (service: string) => join('services', service, 'src', 'server.ts');

export class LauncherError extends Error {
  override name = 'LauncherError';
}

type Migrate = (databaseUrl: string) => Promise<void>;

/** Loads `migrate` of one service, failing with a message that says what is missing and where. */
export async function loadMigrate(service: BackendService): Promise<Migrate> {
  const where = `services/${service}/src/db/migrate.ts`;
  if (!existsSync(join(ROOT, 'services', service, 'package.json'))) {
    throw new LauncherError(`service "${service}" does not exist (no services/${service}/package.json)`);
  }
  let module: { migrate?: unknown };
  try {
    module = (await import(`@offload/${service}/migrate`)) as { migrate?: unknown };
  } catch (error) {
    if (isMissing(error, service)) {
      throw new LauncherError(
        `service "${service}" has no migrate module: create ${where} exporting migrate(databaseUrl) and ` +
          `export it as "./migrate" in services/${service}/package.json (see services/tasks)`,
      );
    }
    throw error;
  }
  if (typeof module.migrate !== 'function') {
    throw new LauncherError(`${where} does not export a function migrate(databaseUrl)`);
  }
  return module.migrate as Migrate;
}

/** True when the migrate module itself is missing (not when something it imports is broken). */
function isMissing(error: unknown, service: string): boolean {
  const { code, message = '' } = error as { code?: string; message?: string };
  if (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return message.includes("'./migrate'");
  if (code !== 'ERR_MODULE_NOT_FOUND') return false;
  const missing = /Cannot find (?:module|package) '([^']+)'/.exec(message)?.[1] ?? '';
  return missing.includes(`@offload/${service}`) || missing.includes(`services/${service}/src/db/migrate`);
}

/**
 * Applies every service's migrations to one database (a schema each). Modules are all loaded first, so
 * a missing one fails before anything changes; schemas are independent, so they migrate in parallel.
 */
export async function migrateAll(
  databaseUrl: string,
  onDone: (service: BackendService, ms: number) => void = () => {},
): Promise<void> {
  const migrations = await Promise.all(
    BACKEND_SERVICES.map(async (service) => ({ service, migrate: await loadMigrate(service) })),
  );
  await Promise.all(
    migrations.map(async ({ service, migrate }) => {
      const started = Date.now();
      try {
        await migrate(databaseUrl);
      } catch (error) {
        throw new LauncherError(`migrating the "${service}" schema failed: ${describeError(error)}`);
      }
      onDone(service, Date.now() - started);
    }),
  );
}

/**
 * Gives every service its own Postgres role (DESIGN 2, ADR 0001) once the schemas are migrated, and
 * returns the URL each service connects with. `passwordFor` says which password a service's role gets;
 * a service it answers `undefined` for keeps `databaseUrl` (the migrating role).
 */
export async function provisionRoles(
  databaseUrl: string,
  passwordFor: (service: BackendService) => string | undefined,
): Promise<Record<BackendService, string>> {
  const { provisionServiceRole } = await import('@offload/platform/db');
  const urls = {} as Record<BackendService, string>;
  for (const service of BACKEND_SERVICES) {
    const password = passwordFor(service);
    try {
      urls[service] = password
        ? await provisionServiceRole({ adminUrl: databaseUrl, schema: service, password })
        : databaseUrl;
    } catch (error) {
      throw new LauncherError(`creating the "${service}" role failed: ${describeError(error)}`);
    }
  }
  return urls;
}

/** The variable that holds a service's role password for `npm run migrate` (e.g. USAGE_DB_PASSWORD). */
export function rolePasswordVariable(service: BackendService): string {
  return `${service.toUpperCase()}_DB_PASSWORD`;
}

/** One line for an error, without credentials that connection errors sometimes quote. */
export function describeError(error: unknown): string {
  const e = error as { message?: string; code?: string; name?: string };
  const text = e?.message || e?.code || e?.name || String(error);
  return redactUrls(text);
}

/** `postgres://user:secret@host/db` -> `postgres://user:***@host/db`, anywhere in a text. */
export function redactUrls(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi, '$1***@');
}
