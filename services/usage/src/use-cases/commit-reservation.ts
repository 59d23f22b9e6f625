import { newId, type EventOf, type SettleRequest, type SettleResponse } from '@offload/contracts';
import type { Database, Tx } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import type { Logger } from '@offload/platform/logger';
import { appendToOutbox } from '@offload/platform/outbox';
import type { CreditLedgerRepository } from '../db/credit-ledger-repository.js';
import type { MeterRepository } from '../db/meter-repository.js';
import type { ReservationRepository, StoredReservation } from '../db/reservation-repository.js';
import { outbox, type UsageSchema } from '../db/schema.js';
import { planDebit, toCreditBalance } from '../domain/credits.js';
import { monthlyQuota, type QuotaPolicy } from '../domain/quota.js';
import { announceExhaustionIfReached } from './announce-exhaustion.js';
import { settleReservation } from './settle-reservation.js';

export interface CommitReservationDeps {
  database: Database<UsageSchema>;
  reservationRepository: ReservationRepository;
  meterRepository: MeterRepository;
  creditLedger: CreditLedgerRepository;
  quotas: QuotaPolicy;
  logger: Logger;
}

/**
 * Charges a live hold with the real amount (at most what was reserved; the reserved amount by default):
 * a meter adds it to the device's count in the month the hold counted in; credits append debit rows in
 * spend order and queue `usage.credits.consumed`. Idempotent: a second commit is `already_committed`.
 */
export async function commitReservation(
  deps: CommitReservationDeps,
  request: SettleRequest,
): Promise<SettleResponse> {
  const outcome = await settleReservation(deps, request.operation_id, async (tx, reservation) => {
    const amount = request.amount ?? reservation.amount;
    if (amount > reservation.amount) {
      throw new AppError('validation_error', 'a commit cannot charge more than was reserved', {
        details: [{ field: 'amount', message: `at most ${reservation.amount}` }],
      });
    }
    const now = new Date();
    const charged =
      reservation.kind === 'meter'
        ? await chargeMeter(deps, tx, reservation, amount, now)
        : await chargeCredits(deps, tx, reservation, amount, now);
    await deps.reservationRepository.settle(tx, reservation.operationId, {
      status: 'committed',
      committedAmount: charged,
    });
  });
  return { status: outcome.status === 'applied' ? 'committed' : outcome.status };
}

async function chargeMeter(
  deps: CommitReservationDeps,
  tx: Tx<UsageSchema>,
  reservation: StoredReservation,
  amount: number,
  now: Date,
): Promise<number> {
  const key = { userId: reservation.userId, period: reservation.period!, feature: reservation.feature! };
  if (amount === 0) return 0;
  await deps.meterRepository.add(tx, { ...key, installIdHash: reservation.installIdHash!, amount });
  const total = await deps.meterRepository.total(key, tx);
  const quota = monthlyQuota(deps.quotas, reservation.tier);
  await announceExhaustionIfReached(tx, deps.meterRepository, { ...key, quota, total, now });
  return amount;
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
