import type { SettleRequest, SettleResponse } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import type { ReservationRepository } from '../db/reservation-repository.js';
import type { UsageSchema } from '../db/schema.js';
import type { QuotaPolicy } from '../domain/quota.js';
import { settleCredits, settleMeterHold } from './settle-reservation.js';

export interface ReleaseReservationDeps {
  database: Database<UsageSchema>;
  reservationRepository: ReservationRepository;
  quotas: QuotaPolicy;
}

/**
 * Frees a live hold without charging anything (the operation failed or was cancelled). Idempotent: a
 * second release is `already_released`; releasing a committed operation changes nothing
 * (`already_committed`); an unknown id is `unknown` (a hold that was never made cannot be freed).
 */
export async function releaseReservation(
  deps: ReleaseReservationDeps,
  request: SettleRequest,
): Promise<SettleResponse> {
  const meter = await settleMeterHold(deps, request.operation_id, 'release');
  if (meter) return meter;
  const outcome = await settleCredits(deps, request.operation_id, (tx, reservation) =>
    deps.reservationRepository.settle(tx, reservation.operationId, { status: 'released' }),
  );
  return { status: outcome.status === 'applied' ? 'released' : outcome.status };
}
