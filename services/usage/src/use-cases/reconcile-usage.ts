import type { ReconcileRequest, ReconcileResponse } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import type { MeterRepository } from '../db/meter-repository.js';
import type { UsageSchema } from '../db/schema.js';
import { localCountApplies, periodOf } from '../domain/period.js';
import { monthlyQuota, remainingOf, type QuotaPolicy, type Tier } from '../domain/quota.js';
import { hashInstallId } from '../security/install-id.js';
import { announceExhaustionIfReached } from './announce-exhaustion.js';

export interface ReconcileUsageDeps {
  database: Database<UsageSchema>;
  meterRepository: MeterRepository;
  quotas: QuotaPolicy;
}

/**
 * Merges a device's local count into its meter for the current UTC month: max(stored, local), so a count
 * never goes down and replays change nothing. Answers the user's total over every device and what is
 * left of the tier's quota. Only the token's own device may report (403 `install_id_mismatch`).
 */
export async function reconcileUsage(
  deps: ReconcileUsageDeps,
  input: {
    user: { userId: string; installId: string | undefined; tier: Tier };
    request: ReconcileRequest;
    now?: Date;
  },
): Promise<ReconcileResponse> {
  const { user, request } = input;
  if (user.installId === undefined || request.install_id !== user.installId) {
    throw new AppError('install_id_mismatch', 'the install id does not match this session');
  }
  const now = input.now ?? new Date();
  const key = { userId: user.userId, period: periodOf(now), feature: request.feature };
  const quota = monthlyQuota(deps.quotas, user.tier);
  const since = request.since === undefined ? undefined : new Date(request.since);

  const total = await deps.database.db.transaction(async (tx) => {
    const sum = localCountApplies(since, now)
      ? await deps.meterRepository.reconcile(tx, {
          ...key,
          installIdHash: hashInstallId(request.install_id),
          localCount: request.local_count,
        })
      : await deps.meterRepository.total(key, tx);
    await announceExhaustionIfReached(tx, deps.meterRepository, { ...key, quota, total: sum, now });
    return sum;
  });

  return {
    server_count: total,
    effective_remaining: remainingOf(quota, total),
    reconciled_at: now.toISOString(),
  };
}
