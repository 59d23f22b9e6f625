import { newId, type EventOf, type SettleRequest, type SettleResponse } from '@offload/contracts';
import type { Database, Tx } from '@offload/platform/db';
import type { Logger } from '@offload/platform/logger';
import { appendToOutbox } from '@offload/platform/outbox';
import type { CreditLedgerRepository } from '../db/credit-ledger-repository.js';
import type { ReservationRepository, StoredReservation } from '../db/reservation-repository.js';
import { outbox, type UsageSchema } from '../db/schema.js';
import { planDebit, toCreditBalance } from '../domain/credits.js';
import type { QuotaPolicy } from '../domain/quota.js';
import { amountTooLarge, settleCredits, settleMeterHold } from './settle-reservation.js';

export interface CommitReservationDeps {
  database: Database<UsageSchema>;
  reservationRepository: ReservationRepository;
  creditLedger: CreditLedgerRepository;
  quotas: QuotaPolicy;
  logger: Logger;
}

/**
 * Charges a live hold with the real amount (at most what was reserved; the reserved amount by default):
 * a meter adds it to the device's count in the month the hold counted in (one round trip, ADR 0012);
 * credits append debit rows in spend order and queue `usage.credits.consumed`. Idempotent: a second commit
 * is `already_committed`.
 */
export async function commitReservation(
  deps: CommitReservationDeps,
  request: SettleRequest,
): Promise<SettleResponse> {
  const meter = await settleMeterHold(deps, request.operation_id, 'commit', request.amount);
  if (meter) return meter;
  const outcome = await settleCredits(deps, request.operation_id, async (tx, reservation) => {
    const amount = request.amount ?? reservation.amount;
    if (amount > reservation.amount) throw amountTooLarge(reservation.amount);
    const charged = await chargeCredits(deps, tx, reservation, amount, new Date());
    await deps.reservationRepository.settle(tx, reservation.operationId, {
      status: 'committed',
      committedAmount: charged,
    });
  });
  return { status: outcome.status === 'applied' ? 'committed' : outcome.status };
}

/**
 * Debits what the hold covered. Credits that expired while held (daily ones at midnight UTC) can leave
 * less than the amount: the debit then takes what is there, so the balance never goes negative.
 */
async function chargeCredits(
  deps: CommitReservationDeps,
  tx: Tx<UsageSchema>,
  reservation: StoredReservation,
  amount: number,
  now: Date,
): Promise<number> {
  if (amount === 0) return 0;
  const { draws, shortfall } = planDebit(await deps.creditLedger.buckets(tx, reservation.userId), amount);
  if (shortfall > 0) {
    deps.logger.warn(
      { operation_id: reservation.operationId, shortfall },
      'credits expired while held; debited what was left',
    );
  }
  await deps.creditLedger.append(
    tx,
    draws.map((draw) => ({
      id: newId(),
      userId: reservation.userId,
      kind: draw.kind,
      amount: -draw.amount,
      reason: 'consumed' as const,
      operationId: reservation.operationId,
      expiresAt: draw.expiresAt,
      createdAt: now,
    })),
  );
  const charged = amount - shortfall;
  if (charged > 0) {
    const remaining = toCreditBalance(await deps.creditLedger.sumsByKind(reservation.userId, tx), now).total;
    const event: EventOf<'usage.credits.consumed'> = {
      id: newId(),
      type: 'usage.credits.consumed',
      source: 'usage',
      time: now.toISOString(),
      subject: reservation.userId,
      data: {
        user_id: reservation.userId,
        operation_id: reservation.operationId,
        amount: charged,
        remaining,
      },
    };
    await appendToOutbox(tx, outbox, [event]);
  }
  return charged;
}
