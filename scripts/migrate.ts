/**
 * `npm run migrate`: applies every service's committed migrations to DATABASE_URL (one schema each).
 * Then, for every service whose `<SERVICE>_DB_PASSWORD` is set (e.g. USAGE_DB_PASSWORD), creates or
 * updates its role `offload_<service>` with that password and grants it its own schema only (DESIGN 2);
 * that service's DATABASE_URL then names the role. DATABASE_URL's user must be able to create roles.
 * Safe to run from several places at once (each schema migrates under an advisory lock). Used by the
 * docker-compose `migrate` service and the Kubernetes migrate Job; `npm start` migrates by itself.
 */
import {
  BACKEND_SERVICES,
  LauncherError,
  describeError,
  migrateAll,
  provisionRoles,
  redactUrls,
  rolePasswordVariable,
  type BackendService,
} from './lib/services.js';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL is not set: npm run migrate needs the Postgres database to migrate.');
  console.error('  e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload npm run migrate');
  process.exit(1);
}

const started = Date.now();
try {
  await migrateAll(databaseUrl, (service, ms) => console.log(`migrated ${service} (${ms} ms)`));
  console.log(
    `migrated ${BACKEND_SERVICES.length} schemas in ${redactUrls(databaseUrl)} in ${Date.now() - started} ms`,
  );
  const passwordOf = (service: BackendService) => process.env[rolePasswordVariable(service)] || undefined;
  await provisionRoles(databaseUrl, passwordOf);
  const withRoles = BACKEND_SERVICES.filter(passwordOf);
  if (withRoles.length)
    console.log(`roles granted their schemas: ${withRoles.map((s) => `offload_${s}`).join(', ')}`);
} catch (error) {
  console.error(error instanceof LauncherError ? error.message : `migration failed: ${describeError(error)}`);
  process.exit(1);
}
