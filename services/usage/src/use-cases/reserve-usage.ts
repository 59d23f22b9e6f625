import { MeterFeature, type ReserveRequest, type ReserveResponse } from '@offload/contracts';
import { isUniqueViolation, type Database } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import type { CreditLedgerRepository } from '../db/credit-ledger-repository.js';
import type { ReservationRepository, StoredReservation } from '../db/reservation-repository.js';
import type { UsageSchema } from '../db/schema.js';
import { toCreditBalance } from '../domain/credits.js';
import { periodOf } from '../domain/period.js';
import { decideCreditHold, monthlyQuota, type QuotaPolicy } from '../domain/quota.js';
import { creditsLockKey, sameReservation, type ReservationFingerprint } from '../domain/reservation.js';
import { hashInstallId } from '../security/install-id.js';

export interface ReserveUsageDeps {
  database: Database<UsageSchema>;
  reservationRepository: ReservationRepository;
  creditLedger: CreditLedgerRepository;
  quotas: QuotaPolicy;
}

/**
 * Holds quota (a meter) or credits for an operation until it is committed, released or its TTL passes
 * (DESIGN 8). The check and the hold are one atomic step: every reserve, commit and release of the same
 * user's meter month (or credits) takes one advisory lock for its transaction, then counts committed
 * usage plus active holds. Meter holds, on every breakdown's path, are one call of `usage.reserve_meter`
 * (ADR 0012); credit holds are a transaction here. Idempotent by `operation_id`: a repeat gets the first answer; the same id for
 * a different request is `idempotency_conflict`.
 */
export async function reserveUsage(
  deps: ReserveUsageDeps,
  request: ReserveRequest,
): Promise<ReserveResponse> {
  const now = new Date();
  const { resource } = request;
  const meter =
    resource.kind === 'meter'
      ? {
          feature: parseFeature(resource.feature),
          installIdHash: hashInstallId(resource.install_id),
          period: periodOf(now),
        }
      : undefined;
  const fingerprint: ReservationFingerprint = {
    userId: request.user_id,
    kind: resource.kind,
    feature: meter?.feature ?? null,
    installIdHash: meter?.installIdHash ?? null,
    amount: request.amount,
  };
  const { reservationRepository: reservations } = deps;

  try {
    if (meter) {
      // One round trip (ADR 0012): the breakdown path reserves here on every call.
      const row = await reservations.reserveMeter({
        operationId: request.operation_id,
        userId: request.user_id,
        tier: request.tier,
        ...meter,
        amount: request.amount,
        ttlMs: request.ttl_ms,
        quota: monthlyQuota(deps.quotas, request.tier),
      });
      return row.replayed ? replay(row, fingerprint) : answerOf(row);
    }
    return await deps.database.db.transaction(async (tx) => {
      await reservations.lock(tx, creditsLockKey(request.user_id));
      const existing = await reservations.find(tx, request.operation_id);
      if (existing) return replay(existing, fingerprint);

      const balance = toCreditBalance(await deps.creditLedger.sumsByKind(request.user_id, tx), now).total;
      const held = await reservations.creditHolds(tx, request.user_id);
      const decision = decideCreditHold({ balance, held, amount: request.amount });
      const row = {
        operationId: request.operation_id,
        userId: request.user_id,
        tier: request.tier,
        kind: resource.kind,
        feature: null,
        installIdHash: null,
        period: null,
        amount: request.amount,
        status: decision.granted ? 'held' : 'denied',
        denialCode: decision.granted ? null : 'insufficient_credits',
        remaining: decision.remaining,
      } as const;
      await reservations.insert(tx, row, request.ttl_ms);
      return answerOf(row);
    });
  } catch (error) {
    // The same operation id raced in under another lock key (another user or resource): never the same
    // request, since the same request takes the same lock and finds the first row.
    if (!isUniqueViolation(error)) throw error;
    const existing = await deps.database.db.transaction((tx) => reservations.find(tx, request.operation_id));
    if (!existing) throw error;
    return replay(existing, fingerprint);
  }
}

function parseFeature(feature: string): string {
  if (!MeterFeature.safeParse(feature).success) {
    throw new AppError('validation_error', 'the feature name is not valid', {
      details: [{ field: 'resource.feature', message: 'letters, digits, _ . : - only' }],
    });
  }
  return feature;
}

/** The answer a stored reservation gives: its first one. */
function answerOf(
  row: Pick<StoredReservation, 'operationId' | 'status' | 'denialCode' | 'remaining'>,
): ReserveResponse {
  return row.status === 'denied'
    ? { status: 'denied', code: row.denialCode!, remaining: row.remaining }
    : { status: 'granted', operation_id: row.operationId, remaining: row.remaining };
}

/** The first answer again, whatever happened to the hold since; a different request is a conflict. */
function replay(
  existing: ReservationFingerprint &
    Pick<StoredReservation, 'operationId' | 'status' | 'denialCode' | 'remaining'>,
  fingerprint: ReservationFingerprint,
): ReserveResponse {
  if (!sameReservation(existing, fingerprint)) {
    throw new AppError('idempotency_conflict', 'the operation id was used for another reservation');
  }
  return answerOf(existing);
}
