import { sql } from 'drizzle-orm';
import type { Database } from '@offload/platform/db';
import type { IdentitySchema } from './schema.js';

/** Deletes what no rule needs any more; idempotent, so every replica may run it. */
export function createMaintenanceRepository(database: Database<IdentitySchema>) {
  const { db } = database;
  return {
    /** Sessions past their absolute lifetime (with their refresh tokens) a day after they ended. */
    async pruneEndedSessions(): Promise<number> {
      const rows = await db.execute(sql`
        delete from identity.sessions where absolute_expires_at < now() - interval '1 day' returning id`);
      return rows.length;
    },

    /** Cutoffs older than any access token that could still be alive. */
    async pruneCutoffs(olderThanSeconds: number): Promise<number> {
      const rows = await db.execute(sql`
        delete from identity.session_cutoffs
        where revoked_before < now() - make_interval(secs => ${olderThanSeconds}) returning user_id`);
      return rows.length;
    },

    /** Completed erasure records (which hold no user id) after `days`. */
    async pruneCompletedErasures(days: number): Promise<number> {
      const rows = await db.execute(sql`
        delete from identity.erasures
        where completed_at < now() - make_interval(days => ${days}) returning id`);
      return rows.length;
    },
  };
}

export type MaintenanceRepository = ReturnType<typeof createMaintenanceRepository>;
