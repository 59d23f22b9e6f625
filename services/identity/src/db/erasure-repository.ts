import { asc, eq, sql } from 'drizzle-orm';
import type { Database, Tx } from '@offload/platform/db';
import type { ErasureConfirmation, ErasureRecord } from '../domain/erasure.js';
import { erasureConfirmations, erasures, type IdentitySchema } from './schema.js';

const erasureColumns = {
  id: erasures.id,
  requestedAt: erasures.requestedAt,
  completedAt: erasures.completedAt,
  expectedServices: erasures.expectedServices,
};
const confirmationColumns = {
  service: erasureConfirmations.service,
  purgedAt: erasureConfirmations.purgedAt,
  erased: erasureConfirmations.erased,
};

export function createErasureRepository(database: Database<IdentitySchema>) {
  const { db } = database;
  return {
    async insert(tx: Tx<IdentitySchema>, erasure: Omit<ErasureRecord, 'completedAt'>): Promise<void> {
      await tx.insert(erasures).values({ ...erasure, completedAt: null });
    },

    async find(
      id: string,
    ): Promise<{ erasure: ErasureRecord; confirmations: ErasureConfirmation[] } | undefined> {
      const [erasure] = await db.select(erasureColumns).from(erasures).where(eq(erasures.id, id));
      if (!erasure) return undefined;
      const confirmations = await db
        .select(confirmationColumns)
        .from(erasureConfirmations)
        .where(eq(erasureConfirmations.erasureId, id))
        .orderBy(asc(erasureConfirmations.purgedAt));
      return { erasure, confirmations };
    },

    /** The erasure, locked: confirmations of one erasure are recorded one at a time. */
    async lock(tx: Tx<IdentitySchema>, id: string): Promise<ErasureRecord | undefined> {
      const [row] = await tx.select(erasureColumns).from(erasures).where(eq(erasures.id, id)).for('update');
      return row;
    },

    /** Records a service's confirmation once; a redelivered confirmation changes nothing. */
    async confirm(
      tx: Tx<IdentitySchema>,
      erasureId: string,
      confirmation: ErasureConfirmation,
    ): Promise<void> {
      await tx
        .insert(erasureConfirmations)
        .values({ erasureId, ...confirmation })
        .onConflictDoNothing();
    },

    async confirmedServices(tx: Tx<IdentitySchema>, erasureId: string): Promise<string[]> {
      const rows = await tx
        .select({ service: erasureConfirmations.service })
        .from(erasureConfirmations)
        .where(eq(erasureConfirmations.erasureId, erasureId));
      return rows.map((r) => r.service);
    },

    async complete(tx: Tx<IdentitySchema>, erasureId: string, at: Date): Promise<void> {
      await tx
        .update(erasures)
        .set({ completedAt: at })
        .where(sql`${erasures.id} = ${erasureId} and ${erasures.completedAt} is null`);
    },
  };
}

export type ErasureRepository = ReturnType<typeof createErasureRepository>;
