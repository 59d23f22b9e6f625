import { and, eq, lte, sql } from 'drizzle-orm';
import type { Database, Tx } from '@offload/platform/db';
import type { ReservationStatus, SettleStatus } from '../domain/reservation.js';
import { meters, reservations, type UsageSchema } from './schema.js';

export type ReservationRow = typeof reservations.$inferSelect;
/** What `usage.reserve_meter` answers: the reservation's first answer, and whether it was stored before. */
export type MeterReserveRow = Pick<
  ReservationRow,
  | 'operationId'
  | 'userId'
  | 'kind'
  | 'feature'
  | 'installIdHash'
  | 'amount'
  | 'status'
  | 'denialCode'
  | 'remaining'
> & { replayed: boolean };
/**
 * What `usage.settle_meter` answers: a settle status, `credits` (not a meter hold: settle it in
 * TypeScript) or `amount_too_large` (nothing changed), and the reserved amount.
 */
export type MeterSettleStatus = SettleStatus | 'committed' | 'released' | 'credits' | 'amount_too_large';
export type NewReservationRow = typeof reservations.$inferInsert;
/** A stored reservation and whether its TTL has passed (by the database's clock). */
export type StoredReservation = ReservationRow & { pastExpiry: boolean };

const columns = {
  operationId: reservations.operationId,
  userId: reservations.userId,
  tier: reservations.tier,
  kind: reservations.kind,
  feature: reservations.feature,
  installIdHash: reservations.installIdHash,
  period: reservations.period,
  amount: reservations.amount,
  status: reservations.status,
  denialCode: reservations.denialCode,
  remaining: reservations.remaining,
  committedAmount: reservations.committedAmount,
  expiresAt: reservations.expiresAt,
  createdAt: reservations.createdAt,
  settledAt: reservations.settledAt,
  // The statement's clock, not the transaction's: read after the lock, so a hold another reserve already
  // treated as expired (`expires_at <= now()` there) is expired here too and is never charged late.
  pastExpiry: sql<boolean>`${reservations.expiresAt} <= clock_timestamp()`.as('past_expiry'),
};

/** A hold counts while it is held and its TTL has not passed (lazy expiry; the sweeper tidies up). */
const activeHold = sql`${reservations.status} = 'held' and ${reservations.expiresAt} > now()`;

export function createReservationRepository(database: Database<UsageSchema>) {
  const { db } = database;
  return {
    /**
     * Serialises every quota check and hold of one key (a user's meter month, or a user's credits) until
     * the transaction ends: the check and the hold become one atomic step.
     */
    async lock(tx: Tx<UsageSchema>, key: string): Promise<void> {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
    },

    /**
     * Reserves quota of a meter in one round trip: `usage.reserve_meter` (migration 0004, ADR 0012) takes
     * the meter month's lock, answers a known operation id with its stored row, or decides and stores the
     * hold, all in one transaction.
     */
    async reserveMeter(input: {
      operationId: string;
      userId: string;
      tier: 'free' | 'pro';
      feature: string;
      installIdHash: string;
      period: string;
      amount: number;
      ttlMs: number;
      quota: number;
    }): Promise<MeterReserveRow> {
      const [row] = await db.execute<MeterReserveRow>(sql`
        select operation_id as "operationId", user_id as "userId", kind, feature,
          install_id_hash as "installIdHash", amount, status, denial_code as "denialCode", remaining, replayed
        from usage.reserve_meter(
          ${input.operationId}::uuid, ${input.userId}::uuid, ${input.tier}, ${input.feature},
          ${input.installIdHash}, ${input.period}, ${input.amount}::int, ${input.ttlMs}::int, ${input.quota}::int)`);
      return row!;
    },

    /**
     * Commits or releases a meter hold in one round trip: `usage.settle_meter` (migration 0004, ADR 0012).
     * A commit that reaches the quota queues `event` (built by the caller from the answer it cannot know
     * yet: id, time, trace headers) in the same transaction.
     */
    async settleMeter(input: {
      operationId: string;
      action: 'commit' | 'release';
      amount: number | undefined;
      quotas: { free: number; pro: number };
      event: { id: string; time: string; headers: Record<string, string>; channel: string };
    }): Promise<{ status: MeterSettleStatus; reserved: number | null }> {
      const [row] = await db.execute<{ status: MeterSettleStatus; reserved: number | null }>(
        sql`select * from usage.settle_meter(
          ${input.operationId}::uuid, ${input.action}, ${input.amount ?? null}::int,
          ${input.quotas.free}::int, ${input.quotas.pro}::int, ${input.event.id}::uuid, ${input.event.time},
          ${JSON.stringify(input.event.headers)}::jsonb, ${input.event.channel})`,
      );
      return { status: row!.status, reserved: row!.reserved };
    },

    async find(
      tx: Tx<UsageSchema>,
      operationId: string,
      options: { forUpdate?: boolean } = {},
    ): Promise<StoredReservation | undefined> {
      const query = tx.select(columns).from(reservations).where(eq(reservations.operationId, operationId));
      const [row] = options.forUpdate ? await query.for('update') : await query;
      return row;
    },

    /** Committed count (all devices) and active holds of a user's feature in a month, from one snapshot. */
    async meterUsage(
      tx: Tx<UsageSchema>,
      key: { userId: string; period: string; feature: string },
    ): Promise<{ used: number; held: number }> {
      const rows = await tx.execute<{ used: number; held: number }>(sql`
        select
          (select coalesce(sum(${meters.count}), 0) from ${meters}
            where ${meters.userId} = ${key.userId} and ${meters.period} = ${key.period}
              and ${meters.feature} = ${key.feature})::int as used,
          (select coalesce(sum(${reservations.amount}), 0) from ${reservations}
            where ${reservations.userId} = ${key.userId} and ${reservations.kind} = 'meter'
              and ${reservations.period} = ${key.period} and ${reservations.feature} = ${key.feature}
              and ${activeHold})::int as held`);
      return { used: Number(rows[0]!.used), held: Number(rows[0]!.held) };
    },

    /** Credits held by a user's active credit reservations. */
    async creditHolds(tx: Tx<UsageSchema>, userId: string): Promise<number> {
      const [row] = await tx
        .select({ held: sql<number>`coalesce(sum(${reservations.amount}), 0)::int` })
        .from(reservations)
        .where(and(eq(reservations.userId, userId), eq(reservations.kind, 'credits'), activeHold));
      return Number(row?.held ?? 0);
    },

    /** Stores a reservation expiring `ttlMs` after now by the database's clock. */
    async insert(
      tx: Tx<UsageSchema>,
      row: Omit<NewReservationRow, 'expiresAt'>,
      ttlMs: number,
    ): Promise<void> {
      await tx
        .insert(reservations)
        .values({ ...row, expiresAt: sql`now() + ${ttlMs}::int * interval '1 millisecond'` });
    },

    async settle(
      tx: Tx<UsageSchema>,
      operationId: string,
      change: { status: ReservationStatus; committedAmount?: number },
    ): Promise<void> {
      await tx
        .update(reservations)
        .set({
          status: change.status,
          committedAmount: change.committedAmount ?? null,
          settledAt: sql`now()`,
        })
        .where(eq(reservations.operationId, operationId));
    },

    /** Marks holds past their TTL as expired; returns how many. Their amounts stopped counting already. */
    async expireDue(): Promise<number> {
      const rows = await db
        .update(reservations)
        .set({ status: 'expired', settledAt: sql`now()` })
        .where(and(eq(reservations.status, 'held'), lte(reservations.expiresAt, sql`now()`)))
        .returning({ operationId: reservations.operationId });
      return rows.length;
    },

    /** Deletes settled or denied reservations older than `days`; their operation ids are then forgotten. */
    async purgeOlderThan(days: number): Promise<number> {
      const rows = await db
        .delete(reservations)
        .where(
          sql`${reservations.status} <> 'held' and ${reservations.createdAt} < now() - make_interval(days => ${days}::int)`,
        )
        .returning({ operationId: reservations.operationId });
      return rows.length;
    },
  };
}

export type ReservationRepository = ReturnType<typeof createReservationRepository>;
