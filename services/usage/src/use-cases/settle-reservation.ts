import type { Database, Tx } from '@offload/platform/db';
import type { ReservationRepository, StoredReservation } from '../db/reservation-repository.js';
import type { UsageSchema } from '../db/schema.js';
import { planSettle, reservationLockKey, type SettleStatus } from '../domain/reservation.js';

/**
 * The shared first half of commit and release: under the reservation's lock (the one its reserve took),
 * with its row locked, decide what to do. A hold past its TTL is marked expired here (lazy expiry); the
 * sweeper does the same for holds nobody settles.
 */
export async function settleReservation<T>(
  deps: { database: Database<UsageSchema>; reservationRepository: ReservationRepository },
  operationId: string,
  apply: (tx: Tx<UsageSchema>, reservation: StoredReservation) => Promise<T>,
): Promise<{ status: SettleStatus } | { status: 'applied'; result: T }> {
  const { reservationRepository: reservations } = deps;
  return deps.database.db.transaction(async (tx) => {
    const peek = await reservations.find(tx, operationId);
    if (!peek) return { status: 'unknown' as const };
    await reservations.lock(
      tx,
      peek.kind === 'meter'
        ? reservationLockKey({
            kind: 'meter',
            userId: peek.userId,
            period: peek.period!,
            feature: peek.feature!,
          })
        : reservationLockKey({ kind: 'credits', userId: peek.userId }),
    );
    const reservation = (await reservations.find(tx, operationId, { forUpdate: true }))!;
    const plan = planSettle(reservation);
    if (!plan.apply) {
      if (plan.markExpired) await reservations.settle(tx, operationId, { status: 'expired' });
      return { status: plan.status };
    }
    return { status: 'applied' as const, result: await apply(tx, reservation) };
  });
}
