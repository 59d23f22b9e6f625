import { and, asc, count, desc, eq, gt, lt, or, sql, sum } from 'drizzle-orm';
import type { Database, Tx } from '@offload/platform/db';
import type { MeterCursor, MeterTotal } from '../domain/meters.js';
import { meters, quotaExhaustions, type UsageSchema } from './schema.js';

export interface MeterKey {
  userId: string;
  period: string;
  feature: string;
}

export function createMeterRepository(database: Database<UsageSchema>) {
  const { db } = database;

  const totalQuery = (tx: Tx<UsageSchema> | typeof db, key: MeterKey) =>
    tx
      .select({ total: sql<number>`coalesce(sum(${meters.count}), 0)::int` })
      .from(meters)
      .where(
        and(eq(meters.userId, key.userId), eq(meters.period, key.period), eq(meters.feature, key.feature)),
      );

  return {
    /**
     * Stores max(stored, local) for one device in ONE statement (the upsert's row lock makes concurrent
     * reconciles of a device take turns, and `greatest` sees the newest row), and returns the user's total
     * over every device for the feature and month.
     */
    async reconcile(
      tx: Tx<UsageSchema>,
      key: MeterKey & { installIdHash: string; localCount: number },
    ): Promise<number> {
      const rows = await tx.execute<{ total: number }>(sql`
        with upserted as (
          insert into ${meters} as m (user_id, period, feature, install_id_hash, count, updated_at)
          values (${key.userId}, ${key.period}, ${key.feature}, ${key.installIdHash}, ${key.localCount}, now())
          on conflict (user_id, period, feature, install_id_hash)
          do update set count = greatest(m.count, excluded.count), updated_at = now()
          returning m.count
        )
        select ((select count from upserted) + coalesce((
          select sum(o.count) from ${meters} o
          where o.user_id = ${key.userId} and o.period = ${key.period} and o.feature = ${key.feature}
            and o.install_id_hash <> ${key.installIdHash}
        ), 0))::int as total`);
      return Number(rows[0]!.total);
    },

    /** The user's total for a feature and month, over every device. */
    async total(key: MeterKey, tx?: Tx<UsageSchema>): Promise<number> {
      const [row] = await totalQuery(tx ?? db, key);
      return Number(row?.total ?? 0);
    },

    /** Per feature and month, newest month first, then by feature; keyset-paginated. */
    async listTotals(userId: string, limit: number, after: MeterCursor | undefined): Promise<MeterTotal[]> {
      const rows = await db
        .select({
          feature: meters.feature,
          period: meters.period,
          deviceCount: count(),
          total: sum(meters.count).mapWith(Number),
        })
        .from(meters)
        .where(
          and(
            eq(meters.userId, userId),
            after
              ? or(
                  lt(meters.period, after.period),
                  and(eq(meters.period, after.period), gt(meters.feature, after.feature)),
                )
              : undefined,
          ),
        )
        .groupBy(meters.period, meters.feature)
        .orderBy(desc(meters.period), asc(meters.feature))
        .limit(limit);
      return rows.map((r) => ({ ...r, deviceCount: Number(r.deviceCount), total: Number(r.total ?? 0) }));
    },

    /** Records that a quota was used up; true only the first time for this user, feature, month and quota. */
    async markExhausted(tx: Tx<UsageSchema>, key: MeterKey & { quota: number }): Promise<boolean> {
      const written = await tx
        .insert(quotaExhaustions)
        .values(key)
        .onConflictDoNothing()
        .returning({ userId: quotaExhaustions.userId });
      return written.length === 1;
    },
  };
}

export type MeterRepository = ReturnType<typeof createMeterRepository>;
