import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Database, Tx } from '@offload/platform/db';
import type { UserRecord } from '../domain/user.js';
import { devices, googleIdentities, refreshTokens, sessions, users, type IdentitySchema } from './schema.js';

export type NewUserRow = typeof users.$inferInsert;
export type NewDeviceRow = typeof devices.$inferInsert;

const userColumns = {
  id: users.id,
  anonymous: users.anonymous,
  tier: users.tier,
  name: users.name,
  timezone: users.timezone,
  version: users.version,
  createdAt: users.createdAt,
  deletedAt: users.deletedAt,
};

export function createUserRepository(database: Database<IdentitySchema>) {
  const { db } = database;
  const byId = db
    .select(userColumns)
    .from(users)
    .where(eq(users.id, sql.placeholder('id')))
    .limit(1)
    .prepare('identity_user_by_id');

  return {
    async findById(id: string): Promise<UserRecord | undefined> {
      const [row] = await byId.execute({ id });
      return row;
    },

    /** The user, locked until the transaction ends. */
    async lockById(tx: Tx<IdentitySchema>, id: string): Promise<UserRecord | undefined> {
      const [row] = await tx.select(userColumns).from(users).where(eq(users.id, id)).for('update');
      return row;
    },

    /**
     * Records that a known device was seen again and returns its user; undefined when the install id is
     * new. Only the install id's hash is used.
     */
    async touchDevice(
      tx: Tx<IdentitySchema>,
      device: { installIdHash: string; platform: string; appVersion: string; seenAt: Date },
    ): Promise<UserRecord | undefined> {
      const [row] = await tx
        .update(devices)
        .set({ platform: device.platform, appVersion: device.appVersion, lastSeenAt: device.seenAt })
        .from(users)
        .where(and(eq(devices.installIdHash, device.installIdHash), eq(users.id, devices.userId)))
        .returning(userColumns);
      return row;
    },

    async insertUser(tx: Tx<IdentitySchema>, row: NewUserRow): Promise<UserRecord> {
      const [created] = await tx.insert(users).values(row).returning(userColumns);
      return created!;
    },

    /**
     * Binds an install id (hash) to a user unless it is bound already. Returns false when another
     * transaction bound it first: the unique key makes concurrent first calls wait for each other.
     */
    async insertDeviceIfAbsent(tx: Tx<IdentitySchema>, row: NewDeviceRow): Promise<boolean> {
      const inserted = await tx
        .insert(devices)
        .values(row)
        .onConflictDoNothing({ target: devices.installIdHash })
        .returning({ installIdHash: devices.installIdHash });
      return inserted.length === 1;
    },

    async updateProfile(
      tx: Tx<IdentitySchema>,
      id: string,
      profile: { name: string | null; timezone: string | null; version: number },
    ): Promise<UserRecord> {
      const [row] = await tx.update(users).set(profile).where(eq(users.id, id)).returning(userColumns);
      return row!;
    },

    /** The anonymous user becomes a signed-in one; same id, so everything it owns stays. */
    async markLinked(tx: Tx<IdentitySchema>, id: string): Promise<UserRecord> {
      const [row] = await tx
        .update(users)
        .set({ anonymous: false })
        .where(eq(users.id, id))
        .returning(userColumns);
      return row!;
    },

    async markDeleted(tx: Tx<IdentitySchema>, id: string, at: Date): Promise<void> {
      await tx.update(users).set({ deletedAt: at }).where(eq(users.id, id));
    },

    /** The Google identity with this `sub`, locked until the transaction ends. */
    async lockGoogleIdentity(tx: Tx<IdentitySchema>, sub: string): Promise<{ userId: string } | undefined> {
      const [row] = await tx
        .select({ userId: googleIdentities.userId })
        .from(googleIdentities)
        .where(eq(googleIdentities.sub, sub))
        .for('update');
      return row;
    },

    /** Links a Google `sub` to a user; false when the `sub` was linked concurrently by someone else. */
    async insertGoogleIdentityIfAbsent(
      tx: Tx<IdentitySchema>,
      row: { sub: string; userId: string; email: string | null; at: Date },
    ): Promise<boolean> {
      const inserted = await tx
        .insert(googleIdentities)
        .values({
          sub: row.sub,
          userId: row.userId,
          email: row.email,
          createdAt: row.at,
          lastSignInAt: row.at,
        })
        .onConflictDoNothing({ target: googleIdentities.sub })
        .returning({ sub: googleIdentities.sub });
      return inserted.length === 1;
    },

    /** Another sign-in: the email Google reports now replaces the stored one. */
    async touchGoogleIdentity(
      tx: Tx<IdentitySchema>,
      row: { sub: string; email: string | null; at: Date },
    ): Promise<void> {
      await tx
        .update(googleIdentities)
        .set({ email: row.email, lastSignInAt: row.at })
        .where(eq(googleIdentities.sub, row.sub));
    },

    /**
     * Deletes every identity row of the user (refresh tokens, sessions, devices, Google identity, the user
     * itself) and returns how many rows of each it deleted.
     */
    async purge(tx: Tx<IdentitySchema>, userId: string): Promise<Record<string, number>> {
      const sessionIds = tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, userId));
      const tokens = await tx
        .delete(refreshTokens)
        .where(inArray(refreshTokens.sessionId, sessionIds))
        .returning({ h: refreshTokens.tokenHash });
      const sessionRows = await tx
        .delete(sessions)
        .where(eq(sessions.userId, userId))
        .returning({ id: sessions.id });
      const deviceRows = await tx
        .delete(devices)
        .where(eq(devices.userId, userId))
        .returning({ h: devices.installIdHash });
      const googleRows = await tx
        .delete(googleIdentities)
        .where(eq(googleIdentities.userId, userId))
        .returning({ sub: googleIdentities.sub });
      const userRows = await tx.delete(users).where(eq(users.id, userId)).returning({ id: users.id });
      return {
        users: userRows.length,
        devices: deviceRows.length,
        sessions: sessionRows.length,
        refresh_tokens: tokens.length,
        google_identities: googleRows.length,
      };
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
