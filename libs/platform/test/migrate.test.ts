import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestInfra, type TestInfra } from '@offload/testing';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateSchema } from '../src/db/index.js';

let infra: TestInfra;
let folder: string;

beforeAll(async () => {
  infra = await createTestInfra();
  folder = mkdtempSync(join(tmpdir(), 'offload-migrations-'));
  mkdirSync(join(folder, 'meta'));
  writeFileSync(
    join(folder, 'meta', '_journal.json'),
    JSON.stringify({
      version: '7',
      dialect: 'postgresql',
      entries: [
        { idx: 0, version: '7', when: 1, tag: '0000_init', breakpoints: true },
        { idx: 1, version: '7', when: 2, tag: '0001_more', breakpoints: true },
      ],
    }),
  );
  writeFileSync(
    join(folder, '0000_init.sql'),
    'CREATE SCHEMA IF NOT EXISTS "replicas";\n--> statement-breakpoint\nCREATE TABLE "replicas"."things" ("id" integer PRIMARY KEY);',
  );
  writeFileSync(join(folder, '0001_more.sql'), 'ALTER TABLE "replicas"."things" ADD COLUMN "name" text;');
});

afterAll(async () => {
  rmSync(folder, { recursive: true, force: true });
  await infra?.cleanup();
});

describe('migrateSchema', () => {
  it('is safe when several replicas migrate at once, and idempotent afterwards', async () => {
    await Promise.all(
      Array.from({ length: 5 }, () =>
        migrateSchema({ url: infra.databaseUrl, schema: 'replicas', migrationsFolder: folder }),
      ),
    );
    await migrateSchema({ url: infra.databaseUrl, schema: 'replicas', migrationsFolder: folder });
    const sql = postgres(infra.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const applied = await sql`select count(*)::int as n from replicas.__migrations`;
      expect(applied[0]!.n).toBe(2);
      const columns = await sql`select column_name from information_schema.columns
        where table_schema = 'replicas' and table_name = 'things' order by column_name`;
      expect(columns.map((c) => c.column_name)).toEqual(['id', 'name']);
    } finally {
      await sql.end();
    }
  });
});
