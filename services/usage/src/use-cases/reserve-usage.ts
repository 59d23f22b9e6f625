import { MeterFeature, type ReserveRequest, type ReserveResponse } from '@offload/contracts';
import { isUniqueViolation, type Database, type Tx } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import type { CreditLedgerRepository } from '../db/credit-ledger-repository.js';
import type { ReservationRepository, StoredReservation } from '../db/reservation-repository.js';
import type { UsageSchema } from '../db/schema.js';
import { toCreditBalance } from '../domain/credits.js';
import { periodOf } from '../domain/period.js';
import {
  decideCreditHold,
  decideMeterHold,
  monthlyQuota,
  type QuotaPolicy,
  type ReservationDecision,
} from '../domain/quota.js';
import { reservationLockKey, sameReservation, type ReservationFingerprint } from '../domain/reservation.js';
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
 * usage plus active holds. Idempotent by `operation_id`: a repeat gets the first answer; the same id for
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
    return await deps.database.db.transaction(async (tx) => {
      await reservations.lock(
        tx,
        meter
          ? reservationLockKey({ kind: 'meter', userId: request.user_id, ...meter })
          : reservationLockKey({ kind: 'credits', userId: request.user_id }),
      );
      const existing = await reservations.find(tx, request.operation_id);
      if (existing) return replay(existing, fingerprint);

      const decision = meter
        ? await decideMeter(deps, tx, request, meter)
        : await decideCredits(deps, tx, request, now);
      const denialCode = meter ? 'quota_exceeded' : 'insufficient_credits';
      await reservations.insert(
        tx,
        {
          operationId: request.operation_id,
          userId: request.user_id,
          tier: request.tier,
          kind: resource.kind,
          feature: meter?.feature ?? null,
          installIdHash: meter?.installIdHash ?? null,
          period: meter?.period ?? null,
          amount: request.amount,
          status: decision.granted ? 'held' : 'denied',
          denialCode: decision.granted ? null : denialCode,
          remaining: decision.remaining,
        },
        request.ttl_ms,
      );
      return answerOf(request.operation_id, decision, denialCode);
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

async function decideMeter(
  deps: ReserveUsageDeps,
  tx: Tx<UsageSchema>,
  request: ReserveRequest,
  meter: { feature: string; period: string },
): Promise<ReservationDecision> {
  const { used, held } = await deps.reservationRepository.meterUsage(tx, {
    userId: request.user_id,
    period: meter.period,
    feature: meter.feature,
  });
  return decideMeterHold({
    quota: monthlyQuota(deps.quotas, request.tier),
    used,
    held,
    amount: request.amount,
  });
}

async function decideCredits(
  deps: ReserveUsageDeps,
  tx: Tx<UsageSchema>,
  request: ReserveRequest,
  now: Date,
): Promise<ReservationDecision> {
  const balance = toCreditBalance(await deps.creditLedger.sumsByKind(request.user_id, tx), now).total;
  const held = await deps.reservationRepository.creditHolds(tx, request.user_id);
  return decideCreditHold({ balance, held, amount: request.amount });
}

function answerOf(
  operationId: string,
  decision: ReservationDecision,
  denialCode: 'quota_exceeded' | 'insufficient_credits',
): ReserveResponse {
  return decision.granted
    ? { status: 'granted', operation_id: operationId, remaining: decision.remaining }
    : { status: 'denied', code: denialCode, remaining: decision.remaining };
}

/** The first answer again, whatever happened to the hold since; a different request is a conflict. */
function replay(existing: StoredReservation, fingerprint: ReservationFingerprint): ReserveResponse {
  if (!sameReservation(existing, fingerprint)) {
    throw new AppError('idempotency_conflict', 'the operation id was used for another reservation');
  }
  return existing.status === 'denied'
    ? { status: 'denied', code: existing.denialCode!, remaining: existing.remaining }
    : { status: 'granted', operation_id: existing.operationId, remaining: existing.remaining };
}
