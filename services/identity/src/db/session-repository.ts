import { and, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import type { Tx } from '@offload/platform/db';
import { refreshTokens, sessionCutoffs, sessions, type IdentitySchema } from './schema.js';

export interface NewSession {
  id: string;
  userId: string;
  installIdHash: string | null;
  startedAt: Date;
  absoluteExpiresAt: Date;
  /** SHA-256 (hex) of the session's first refresh token; the token itself is never stored. */
  refreshTokenHash: string;
  refreshExpiresAt: Date;
  /** The install id sealed with the first refresh token (null for sessions without a device). */
  installIdSealed: string | null;
}

export interface StoredRefreshToken {
  tokenHash: string;
  sessionId: string;
  expiresAt: Date;
  usedAt: Date | null;
  installIdSealed: string | null;
  successorSealed: string | null;
}

export interface StoredSession {
  id: string;
  userId: string;
  installIdHash: string | null;
  createdAt: Date;
  revokedAt: Date | null;
  absoluteExpiresAt: Date;
}

const tokenColumns = {
  tokenHash: refreshTokens.tokenHash,
  sessionId: refreshTokens.sessionId,
  expiresAt: refreshTokens.expiresAt,
  usedAt: refreshTokens.usedAt,
  installIdSealed: refreshTokens.installIdSealed,
  successorSealed: refreshTokens.successorSealed,
};

export function createSessionRepository() {
  return {
    /** Starts a refresh-token family with its first token, inside the caller's transaction. */
    async insert(tx: Tx<IdentitySchema>, session: NewSession): Promise<void> {
      await tx.insert(sessions).values({
        id: session.id,
        userId: session.userId,
        installIdHash: session.installIdHash,
        createdAt: session.startedAt,
        lastUsedAt: session.startedAt,
        absoluteExpiresAt: session.absoluteExpiresAt,
      });
      await tx.insert(refreshTokens).values({
        tokenHash: session.refreshTokenHash,
        sessionId: session.id,
        createdAt: session.startedAt,
        expiresAt: session.refreshExpiresAt,
        installIdSealed: session.installIdSealed,
      });
    },

    async findToken(tx: Tx<IdentitySchema>, tokenHash: string): Promise<StoredRefreshToken | undefined> {
      const [row] = await tx
        .select(tokenColumns)
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, tokenHash));
      return row;
    },

    /** The session row, locked until the transaction ends: refreshes of one family run one at a time. */
    async lockSession(tx: Tx<IdentitySchema>, sessionId: string): Promise<StoredSession | undefined> {
      const [row] = await tx
        .select({
          id: sessions.id,
          userId: sessions.userId,
          installIdHash: sessions.installIdHash,
          createdAt: sessions.createdAt,
          revokedAt: sessions.revokedAt,
          absoluteExpiresAt: sessions.absoluteExpiresAt,
        })
        .from(sessions)
        .where(eq(sessions.id, sessionId))
        .for('update');
      return row;
    },

    /** Rotation: the presented token becomes used, pointing (sealed) at its successor, which is stored. */
    async rotate(
      tx: Tx<IdentitySchema>,
      rotation: {
        sessionId: string;
        usedTokenHash: string;
        successorSealed: string;
        next: { tokenHash: string; expiresAt: Date; installIdSealed: string | null };
        at: Date;
        /** Sealed successors of tokens used before this are wiped: their grace window is over. */
        graceEndsBefore: Date;
      },
    ): Promise<void> {
      await tx
        .update(refreshTokens)
        .set({ usedAt: rotation.at, successorSealed: rotation.successorSealed })
        .where(eq(refreshTokens.tokenHash, rotation.usedTokenHash));
      await tx.insert(refreshTokens).values({
        tokenHash: rotation.next.tokenHash,
        sessionId: rotation.sessionId,
        createdAt: rotation.at,
        expiresAt: rotation.next.expiresAt,
        installIdSealed: rotation.next.installIdSealed,
      });
      await tx.update(sessions).set({ lastUsedAt: rotation.at }).where(eq(sessions.id, rotation.sessionId));
      await tx
        .update(refreshTokens)
        .set({ successorSealed: null })
        .where(
          and(
            eq(refreshTokens.sessionId, rotation.sessionId),
            isNotNull(refreshTokens.successorSealed),
            lt(refreshTokens.usedAt, rotation.graceEndsBefore),
          ),
        );
    },

    /** Revokes one family; false when it was already revoked (or does not exist). */
    async revoke(tx: Tx<IdentitySchema>, sessionId: string, at: Date): Promise<boolean> {
      const rows = await tx
        .update(sessions)
        .set({ revokedAt: at })
        .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
        .returning({ id: sessions.id });
      return rows.length === 1;
    },

    /**
     * Revokes every live session of the user and records the cutoff that makes verifiers refuse the
     * user's earlier access tokens. Returns the ids of the sessions it revoked.
     */
    async revokeAllOfUser(tx: Tx<IdentitySchema>, userId: string, at: Date): Promise<string[]> {
      const rows = await tx
        .update(sessions)
        .set({ revokedAt: at })
        .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)))
        .returning({ id: sessions.id });
      await tx
        .insert(sessionCutoffs)
        .values({ userId, revokedBefore: at })
        .onConflictDoUpdate({
          target: sessionCutoffs.userId,
          set: { revokedBefore: sql`greatest(${sessionCutoffs.revokedBefore}, excluded.revoked_before)` },
        });
      return rows.map((r) => r.id);
    },
  };
}

export type SessionRepository = ReturnType<typeof createSessionRepository>;
