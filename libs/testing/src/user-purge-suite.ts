import { DomainEvent, newId, USER_PURGED_EVENT, type ErasureService } from '@offload/contracts';
import { sql, type Database } from '@offload/platform/db';
import { purgeUserData, type UserErasure } from '@offload/platform/erasure';
import type { Bus } from '@offload/platform/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type ServiceModule, type TestApp } from './build-test-app.js';
import { startErasureProbe, userTablesOf, type ErasureProbe } from './erasure-probe.js';

export interface UserPurgeSuite<
  TSchema extends Record<string, unknown>,
  Config,
  Runtime extends { bus: Bus; database: Database<TSchema>; close(): Promise<void> },
> {
  service: ErasureService;
  module: ServiceModule<Config, Runtime>;
  /** The service's tables and purge, as its runtime passes them to `startUserPurgeConsumer`. */
  inbox: UserErasure<TSchema>['inbox'];
  outbox: UserErasure<TSchema>['outbox'];
  purge: UserErasure<TSchema>['purge'];
}

/**
 * Account erasure in a service none of whose tables holds user rows yet (DESIGN 5): the purge deletes
 * nothing, but identity waits for every service's confirmation: `identity.user.deleted` in,
 * `<service>.user.purged` out, exactly once per event. Declares the `<service>__user_purge` suite with
 * its own app and erasure probe.
 */
export function describeUserPurgeWithoutUserRows<
  TSchema extends Record<string, unknown>,
  Config,
  Runtime extends { bus: Bus; database: Database<TSchema>; close(): Promise<void> },
>(suite: UserPurgeSuite<TSchema, Config, Runtime>): void {
  const { service, inbox, outbox } = suite;
  let t: TestApp<Runtime>;
  let probe: ErasureProbe;

  beforeAll(async () => {
    t = await buildTestApp(suite.module);
    probe = await startErasureProbe(t.runtime.bus, service);
  });

  afterAll(async () => {
    await probe?.stop();
    await t?.close();
  });

  const consumer = `${service}__user_purge`;
  const type = USER_PURGED_EVENT[service];
  const db = () => t.runtime.database.db;
  const erasure = (): UserErasure<TSchema> => ({
    service,
    database: t.runtime.database,
    inbox,
    outbox,
    purge: suite.purge,
  });
  const confirmationsInOutbox = async (userId: string) =>
    (
      await db()
        .select()
        .from(outbox)
        .where(sql`${outbox.type} = ${type}`)
    )
      .map((row) => DomainEvent.parse(row.payload))
      .filter((event) => event.subject === userId);

  describe(consumer, () => {
    it(`confirms an erasure with ${type} through the outbox and JetStream`, async () => {
      const userId = newId();
      const request = await probe.requestErasure(userId);
      const confirmation = await probe.confirmation(request.data.erasure_id);
      expect(confirmation).toMatchObject({
        type,
        source: service,
        subject: userId,
        data: {
          user_id: userId,
          erasure_id: request.data.erasure_id,
          service,
          purged_at: expect.stringMatching(/Z$/),
          erased: {},
        },
      });
      const claimed = await db()
        .select()
        .from(inbox)
        .where(sql`${inbox.consumer} = ${consumer} and ${inbox.eventId} = ${request.id}`);
      expect(claimed).toHaveLength(1);
    });

    it('a redelivered event changes nothing; another event for the user confirms again', async () => {
      const userId = newId();
      const first = await probe.requestErasure(userId);
      await probe.confirmation(first.data.erasure_id);

      const again = await purgeUserData(erasure(), {
        consumer,
        eventId: first.id,
        userId,
        erasureId: first.data.erasure_id,
      });
      expect(again).toEqual({ outcome: 'duplicate_event' });
      expect(await confirmationsInOutbox(userId)).toHaveLength(1);

      const second = await probe.requestErasure(userId);
      await probe.confirmation(second.data.erasure_id);
      expect(await confirmationsInOutbox(userId)).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 300));
      expect(probe.confirmations(first.data.erasure_id)).toHaveLength(1);
    });

    it(`no table of the ${service} schema holds user ids, and the purge covers exactly those`, async () => {
      const counted = await db().transaction((tx) => suite.purge(tx, newId()));
      const tables = await userTablesOf(t.runtime.database.sql, service);
      expect(tables).toEqual([]);
      expect(Object.keys(counted).sort()).toEqual(tables);
    });
  });
}
