import { createTestInfra, type TestInfra } from '@offload/testing';
import postgres, { type Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivedRolePassword, provisionServiceRole, serviceRoleName } from '../src/db/index.js';

/**
 * One role per service (DESIGN 2, ADR 0001): provisioned after the migrations, a service's role works
 * with its own schema and is refused everything else. Two schemas stand in for two services.
 */
let infra: TestInfra;
let admin: Sql;
let own: Sql;

const SCHEMA = 'roletest_own';
const OTHER = 'roletest_other';

beforeAll(async () => {
  infra = await createTestInfra();
  admin = postgres(infra.databaseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`
    create schema ${SCHEMA};
    create table ${SCHEMA}.things (id integer generated always as identity primary key, name text);
    create table ${SCHEMA}."__migrations" (id serial primary key, hash text);
    create function ${SCHEMA}.count_things() returns bigint language sql as 'select count(*) from ${SCHEMA}.things';
    create schema ${OTHER};
    create table ${OTHER}.secrets (id integer primary key, value text);
    insert into ${OTHER}.secrets values (1, 'not yours');
  `);
  const password = derivedRolePassword(infra.databaseUrl, SCHEMA);
  const url = await provisionServiceRole({ adminUrl: infra.databaseUrl, schema: SCHEMA, password });
  own = postgres(url, { max: 1, onnotice: () => {}, connection: { search_path: SCHEMA } });
});

afterAll(async () => {
  await own?.end();
  await admin?.end();
  await infra?.cleanup();
});

const refused = async (statement: Promise<unknown>) => {
  const error = await statement.then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  expect(error?.code, 'insufficient_privilege').toBe('42501');
};

describe('a service role', () => {
  it('connects as its own role and works with its own tables, sequences and functions', async () => {
    const [who] = await own`select current_user as name`;
    expect(who!.name).toBe(serviceRoleName(SCHEMA));
    const [row] = await own`insert into things (name) values ('a') returning id`;
    await own`update things set name = 'b' where id = ${row!.id}`;
    expect(await own`select name from things`).toEqual([{ name: 'b' }]);
    expect((await own`select count_things() as n`)[0]!.n).toBe('1');
    await own`delete from things`;
    await own`select pg_notify('roletest', 'hello')`;
  });

  it('is refused another schema, DDL, and the migrations bookkeeping', async () => {
    await refused(own`select * from ${own(OTHER)}.secrets`);
    await refused(own`create table things_too (id integer)`);
    await refused(own`create table public.things_too (id integer)`);
    await refused(own`create schema mine`);
    await refused(own`select * from "__migrations"`);
    await refused(own`drop table things`);
  });

  it('gets tables that later migrations add, without provisioning again', async () => {
    await admin.unsafe(`create table ${SCHEMA}.later (id integer primary key)`);
    await own`insert into later values (1)`;
    expect(await own`select id from later`).toEqual([{ id: 1 }]);
  });

  it('can be provisioned by several processes at once, and again', async () => {
    const password = derivedRolePassword(infra.databaseUrl, SCHEMA);
    const urls = await Promise.all(
      Array.from({ length: 4 }, () =>
        provisionServiceRole({ adminUrl: infra.databaseUrl, schema: SCHEMA, password }),
      ),
    );
    expect(new Set(urls).size).toBe(1);
    expect(new URL(urls[0]!).username).toBe(serviceRoleName(SCHEMA));
    expect((await own`select count(*)::int as n from things`)[0]!.n).toBe(0);
  });

  it('derives one password per admin credentials and schema', () => {
    const a = derivedRolePassword('postgres://admin:secret@db:5432/x', 'usage');
    expect(derivedRolePassword('postgres://admin:secret@other:5432/y', 'usage')).toBe(a);
    expect(derivedRolePassword('postgres://admin:other@db:5432/x', 'usage')).not.toBe(a);
    expect(derivedRolePassword('postgres://admin:secret@db:5432/x', 'tasks')).not.toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});
