import { createHash } from 'node:crypto';
import { eq, lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '@offload/platform/db';
import {
  creditLedger,
  erasedUsers,
  meters,
  quotaExhaustions,
  reservations,
  type UsageSchema,
} from './schema.js';

/**
 * Every table of the usage schema that holds rows of a user, for account erasure (DESIGN 5). The outbox
 * is not here: its rows are kept for re-publication and pruned after 7 days; the inbox holds event ids
 * only; `erased_users` holds the purge's mark, a hash that contains no user id. A test compares this
 * list with every `user_id` column of the schema.
 */
/** The erasure mark of a user: the SHA-256 of the id, so the mark itself holds no user id. */
export function erasureMarkOf(userId: string): string {
  return createHash('sha256').update(`usage-erased-user:${userId}`, 'utf8').digest('hex');
}

export function createUserDataRepository() {
  /** Serialises a user's purge with anything that would write rows of that user from an event. */
  const lockUser = (tx: Tx<UsageSchema>, userId: string) =>
    tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`usage-user:${userId}`}, 0))`);
  return {
    lockUser,

    /** Whether the user's rows were erased (inside a transaction that holds `lockUser`). */
    async isErased(tx: Tx<UsageSchema>, userId: string): Promise<boolean> {
      const rows = await tx
        .select({ mark: erasedUsers.userIdHash })
        .from(erasedUsers)
        .where(eq(erasedUsers.userIdHash, erasureMarkOf(userId)));
      return rows.length > 0;
    },

    /** Forgets erasures older than `days` (by then no event about the user is redelivered). */
    async pruneErased(database: Database<UsageSchema>, days: number): Promise<number> {
      const rows = await database.db
        .delete(erasedUsers)
        .where(lt(erasedUsers.erasedAt, sql`now() - make_interval(days => ${days}::int)`))
        .returning({ mark: erasedUsers.userIdHash });
      return rows.length;
    },

    /**
     * Deletes every row of `userId` (inside the caller's transaction) and counts them per table.
     * Reservations go first: a commit running at the same time holds its reservation row locked, so this
     * delete waits for it and the rows that commit wrote (ledger debit, meter count) are then deleted
     * below; a commit arriving later finds no reservation and charges nothing.
     */
    async purge(tx: Tx<UsageSchema>, userId: string): Promise<Record<string, number>> {
      await lockUser(tx, userId);
      const held = await tx
        .delete(reservations)
        .where(eq(reservations.userId, userId))
        .returning({ id: reservations.operationId });
      const ledger = await tx
        .delete(creditLedger)
        .where(eq(creditLedger.userId, userId))
        .returning({ id: creditLedger.id });
      const meterRows = await tx
        .delete(meters)
        .where(eq(meters.userId, userId))
        .returning({ period: meters.period });
      const exhaustions = await tx
        .delete(quotaExhaustions)
        .where(eq(quotaExhaustions.userId, userId))
        .returning({ period: quotaExhaustions.period });
      // The mark that keeps a late event (a kickstart grant) from writing rows of the user again.
      await tx
        .insert(erasedUsers)
        .values({ userIdHash: erasureMarkOf(userId) })
        .onConflictDoNothing();
      return {
        credit_ledger: ledger.length,
        meters: meterRows.length,
        reservations: held.length,
        quota_exhaustions: exhaustions.length,
      };
    },
  };
}

export type UserDataRepository = ReturnType<typeof createUserDataRepository>;
