import { asc, gt, isNull, or, sql } from 'drizzle-orm';
import type { Database } from '@offload/platform/db';
import { signingKeyAt } from '../domain/signing-keys.js';
import { signingKeys, type IdentitySchema } from './schema.js';

export type SigningKeyRow = typeof signingKeys.$inferSelect;
export interface NewSigningKey {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  privateJwk: Record<string, unknown>;
}

export interface RotationResult {
  kid: string;
  activatesAt: Date;
  /** Keys that stop signing when the new one starts (each stays published a token lifetime longer). */
  retiring: { kid: string; retiresAt: Date }[];
}

/** Serialises key creation and rotation across replicas and the rotation command. */
const KEY_LOCK = 'offload-identity:signing-keys';

export function createSigningKeyRepository(database: Database<IdentitySchema>) {
  const { db } = database;
  return {
    /**
     * Makes sure some key may sign now: on a fresh database it creates one (activated at once); when the
     * only candidate is a key waiting for its activation, it activates it now. Replicas starting together
     * queue on an advisory lock, so exactly one creates the key.
     */
    async ensureSigningKey(generate: () => Promise<NewSigningKey>, now: Date = new Date()): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${KEY_LOCK}))`);
        const keys = await tx.select().from(signingKeys);
        if (signingKeyAt(keys, now)) return;
        const pending = keys.find((k) => k.retiredAt === null);
        if (pending) {
          await tx
            .update(signingKeys)
            .set({ activatedAt: now })
            .where(sql`${signingKeys.kid} = ${pending.kid}`);
          return;
        }
        await tx.insert(signingKeys).values({ ...(await generate()), createdAt: now, activatedAt: now });
      });
    },

    /**
     * Rewrites the private half of every key `needsSealing` picks with what `seal` makes of it, under the
     * key lock (replicas starting together seal each key once). Returns how many changed.
     */
    async resealKeys(
      needsSealing: (key: SigningKeyRow) => boolean,
      seal: (key: SigningKeyRow) => Record<string, unknown>,
    ): Promise<number> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${KEY_LOCK}))`);
        const plain = (await tx.select().from(signingKeys)).filter(needsSealing);
        for (const key of plain) {
          await tx
            .update(signingKeys)
            .set({ privateJwk: seal(key) })
            .where(sql`${signingKeys.kid} = ${key.kid}`);
        }
        return plain.length;
      });
    },

    /** Every key not retired, or retired after `retiredAfter`, private halves included (as stored). */
    async listUsable(retiredAfter: Date): Promise<SigningKeyRow[]> {
      return db
        .select()
        .from(signingKeys)
        .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, retiredAfter)))
        .orderBy(asc(signingKeys.createdAt));
    },

    /**
     * Adds a key that signs from `activatesAt`; every key that would still sign then retires at that
     * moment. Until then the new key is only published, so verifiers learn it before they see it.
     */
    async rotate(key: NewSigningKey, activatesAt: Date, now: Date = new Date()): Promise<RotationResult> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${KEY_LOCK}))`);
        const retiring = await tx
          .update(signingKeys)
          .set({ retiredAt: activatesAt })
          .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, activatesAt)))
          .returning({ kid: signingKeys.kid });
        await tx.insert(signingKeys).values({ ...key, createdAt: now, activatedAt: activatesAt });
        return {
          kid: key.kid,
          activatesAt,
          retiring: retiring.map((r) => ({ kid: r.kid, retiresAt: activatesAt })),
        };
      });
    },
  };
}

export type SigningKeyRepository = ReturnType<typeof createSigningKeyRepository>;
