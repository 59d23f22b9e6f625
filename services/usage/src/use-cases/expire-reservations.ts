import type { ReservationRepository } from '../db/reservation-repository.js';

/**
 * Tidies reservations: holds past their TTL become `expired` (they stopped counting at their TTL
 * already: every check reads `expires_at > now()`), and settled ones older than the retention are deleted.
 */
export async function expireReservations(
  deps: { reservationRepository: ReservationRepository },
  input: { retentionDays: number },
): Promise<{ expired: number; purged: number }> {
  const expired = await deps.reservationRepository.expireDue();
  const purged = await deps.reservationRepository.purgeOlderThan(input.retentionDays);
  return { expired, purged };
}
