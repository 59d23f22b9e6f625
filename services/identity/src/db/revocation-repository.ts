import { and, asc, eq, gt, isNotNull, or } from 'drizzle-orm';
import type { Database } from '@offload/platform/db';
import { sessionCutoffs, sessions, type IdentitySchema } from './schema.js';

export interface RevokedSessionRow {
  sessionId: string;
  userId: string;
  revokedAt: Date;
}

export function createRevocationRepository(database: Database<IdentitySchema>) {
  const { db } = database;
  return {
    /** Sessions revoked after `since`, in (revoked_at, id) order, after the `after` position. */
    async revokedSessions(
      since: Date,
      after: { revokedAt: Date; sessionId: string } | undefined,
      limit: number,
    ): Promise<RevokedSessionRow[]> {
      const position = after
        ? or(
            gt(sessions.revokedAt, after.revokedAt),
            and(eq(sessions.revokedAt, after.revokedAt), gt(sessions.id, after.sessionId)),
          )
        : undefined;
      const rows = await db
        .select({ sessionId: sessions.id, userId: sessions.userId, revokedAt: sessions.revokedAt })
        .from(sessions)
        .where(and(isNotNull(sessions.revokedAt), gt(sessions.revokedAt, since), position))
        .orderBy(asc(sessions.revokedAt), asc(sessions.id))
        .limit(limit);
      return rows as RevokedSessionRow[];
    },

    /** Logout-all and erasure cutoffs newer than `since`. */
    async cutoffsSince(since: Date): Promise<{ userId: string; revokedBefore: Date }[]> {
      return db
        .select({ userId: sessionCutoffs.userId, revokedBefore: sessionCutoffs.revokedBefore })
        .from(sessionCutoffs)
        .where(gt(sessionCutoffs.revokedBefore, since));
    },
  };
}

export type RevocationRepository = ReturnType<typeof createRevocationRepository>;
