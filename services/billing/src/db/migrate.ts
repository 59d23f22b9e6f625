import { fileURLToPath } from 'node:url';
import { migrateSchema } from '@offload/platform/db';

export const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

export function migrate(databaseUrl: string): Promise<void> {
  return migrateSchema({ url: databaseUrl, schema: 'billing', migrationsFolder });
}
