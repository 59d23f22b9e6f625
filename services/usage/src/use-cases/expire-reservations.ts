import type { Database } from '@offload/platform/db';
import type { ReservationRepository } from '../db/reservation-repository.js';
import type { UsageSchema } from '../db/schema.js';
import type { UserDataRepository } from '../db/user-data-repository.js';

/** How long usage remembers that a user was erased: longer than any redelivery of an event about them. */
export const ERASED_USER_RETENTION_DAYS = 30;

/**
 * Tidies reservations: holds past their TTL become `expired` (they stopped counting at their TTL
 * already: every check reads `expires_at > now()`), and settled ones older than the retention are deleted.
 * Erasure marks older than `ERASED_USER_RETENTION_DAYS` are forgotten on the way.
 */
export async function expireReservations(
  deps: {
    reservationRepository: ReservationRepository;
    userDataRepository: UserDataRepository;
    database: Database<UsageSchema>;
  },
  input: { retentionDays: number },
): Promise<{ expired: number; purged: number; forgotten: number }> {
  const expired = await deps.reservationRepository.expireDue();
  const purged = await deps.reservationRepository.purgeOlderThan(input.retentionDays);
  const forgotten = await deps.userDataRepository.pruneErased(deps.database, ERASED_USER_RETENTION_DAYS);
  return { expired, purged, forgotten };
}
