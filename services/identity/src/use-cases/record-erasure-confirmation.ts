import type { Database, Tx } from '@offload/platform/db';
import type { ErasureRepository } from '../db/erasure-repository.js';
import type { IdentitySchema } from '../db/schema.js';
import { isErasureComplete, type ErasureConfirmation } from '../domain/erasure.js';

export type ConfirmationOutcome = 'unknown_erasure' | 'recorded' | 'completed';

/**
 * Records that `service` purged the user of an erasure (inside the caller's transaction) and marks the
 * erasure completed once every expected service confirmed. The erasure row is locked first, so two
 * confirmations arriving together cannot both miss the other. Redeliveries change nothing.
 */
export async function recordErasureConfirmationIn(
  deps: { erasureRepository: ErasureRepository },
  tx: Tx<IdentitySchema>,
  input: { erasureId: string; confirmation: ErasureConfirmation; now: Date },
): Promise<ConfirmationOutcome> {
  const erasure = await deps.erasureRepository.lock(tx, input.erasureId);
  if (!erasure) return 'unknown_erasure';
  await deps.erasureRepository.confirm(tx, input.erasureId, input.confirmation);
  if (erasure.completedAt !== null) return 'completed';
  const confirmed = await deps.erasureRepository.confirmedServices(tx, input.erasureId);
  if (!isErasureComplete(erasure.expectedServices, confirmed)) return 'recorded';
  await deps.erasureRepository.complete(tx, input.erasureId, input.now);
  return 'completed';
}

/** A `<service>.user.purged` confirmation from another service. */
export function recordErasureConfirmation(
  deps: { database: Database<IdentitySchema>; erasureRepository: ErasureRepository },
  input: { erasureId: string; confirmation: ErasureConfirmation },
  now: Date = new Date(),
): Promise<ConfirmationOutcome> {
  return deps.database.db.transaction((tx) => recordErasureConfirmationIn(deps, tx, { ...input, now }));
}
