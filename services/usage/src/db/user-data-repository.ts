import { eq } from 'drizzle-orm';
import type { Tx } from '@offload/platform/db';
import { creditLedger, meters, quotaExhaustions, reservations, type UsageSchema } from './schema.js';

/**
 * Every table of the usage schema that holds rows of a user, for account erasure (DESIGN 5). The outbox
 * is not here: its rows are kept for re-publication and pruned after 7 days; the inbox holds event ids
 * only. A test compares this list with every `user_id` column of the schema.
 */
export function createUserDataRepository() {
  return {
    /**
     * Deletes every row of `userId` (inside the caller's transaction) and counts them per table.
     * Reservations go first: a commit running at the same time holds its reservation row locked, so this
     * delete waits for it and the rows that commit wrote (ledger debit, meter count) are then deleted
     * below; a commit arriving later finds no reservation and charges nothing.
     */
    async purge(tx: Tx<UsageSchema>, userId: string): Promise<Record<string, number>> {
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
