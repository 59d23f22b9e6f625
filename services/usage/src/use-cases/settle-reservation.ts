import { newId, type SettleResponse } from '@offload/contracts';
import type { Database, Tx } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import { outboxChannel } from '@offload/platform/outbox';
import { currentTraceHeaders } from '@offload/platform/telemetry';
import type { ReservationRepository, StoredReservation } from '../db/reservation-repository.js';
import type { UsageSchema } from '../db/schema.js';
import type { QuotaPolicy } from '../domain/quota.js';
import { creditsLockKey, planSettle, type SettleStatus } from '../domain/reservation.js';

/**
 * Commits or releases the operation's hold when it is a meter hold, in one round trip
 * (`usage.settle_meter`, ADR 0012). Answers `undefined` when the operation holds credits: the caller then
 * settles it with {@link settleCredits}.
 */
export async function settleMeterHold(
  deps: { reservationRepository: ReservationRepository; quotas: QuotaPolicy },
  operationId: string,
  action: 'commit' | 'release',
  amount?: number,
): Promise<SettleResponse | undefined> {
  const { status, reserved } = await deps.reservationRepository.settleMeter({
    operationId,
    action,
    amount,
    quotas: deps.quotas,
    // `usage.quota.exhausted`, queued by the function if this commit reaches the quota.
    event: {
      id: newId(),
      time: new Date().toISOString(),
      headers: currentTraceHeaders(),
      channel: outboxChannel('usage'),
    },
  });
  if (status === 'credits') return undefined;
  if (status === 'amount_too_large') throw amountTooLarge(reserved!);
  return { status };
}

export function amountTooLarge(reserved: number): AppError {
  return new AppError('validation_error', 'a commit cannot charge more than was reserved', {
    details: [{ field: 'amount', message: `at most ${reserved}` }],
  });
}

/**
 * The shared first half of committing and releasing a credit hold: under the user's credits lock (the one
 * its reserve took), with its row locked, decide what to do. A hold past its TTL is marked expired here
 * (lazy expiry); the sweeper does the same for holds nobody settles.
 */
export async function settleCredits<T>(
  deps: { database: Database<UsageSchema>; reservationRepository: ReservationRepository },
  operationId: string,
  apply: (tx: Tx<UsageSchema>, reservation: StoredReservation) => Promise<T>,
): Promise<{ status: SettleStatus } | { status: 'applied'; result: T }> {
  const { reservationRepository: reservations } = deps;
  return deps.database.db.transaction(async (tx) => {
    const peek = await reservations.find(tx, operationId);
    if (!peek) return { status: 'unknown' as const };
    await reservations.lock(tx, creditsLockKey(peek.userId));
    const reservation = (await reservations.find(tx, operationId, { forUpdate: true }))!;
    const plan = planSettle(reservation);
    if (!plan.apply) {
      if (plan.markExpired) await reservations.settle(tx, operationId, { status: 'expired' });
      return { status: plan.status };
    }
    return { status: 'applied' as const, result: await apply(tx, reservation) };
  });
}
