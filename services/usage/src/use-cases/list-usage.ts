import type { UsageMeterPage } from '@offload/contracts';
import { AppError } from '@offload/platform/errors';
import type { MeterRepository } from '../db/meter-repository.js';
import { decodeMeterCursor, encodeMeterCursor, toUsageMeter } from '../domain/meters.js';
import { monthlyQuota, type QuotaPolicy, type Tier } from '../domain/quota.js';

export interface ListUsageDeps {
  meterRepository: MeterRepository;
  quotas: QuotaPolicy;
}

/**
 * The user's meters, one per feature and month (summed over devices), newest month first. Devices appear
 * only as a count; install ids (even hashed) never leave the service. The quota is the token's tier's.
 */
export async function listUsage(
  deps: ListUsageDeps,
  input: { userId: string; tier: Tier; limit: number; cursor: string | undefined },
): Promise<UsageMeterPage> {
  const after = input.cursor === undefined ? undefined : decodeMeterCursor(input.cursor);
  if (after === null) {
    throw new AppError('validation_error', 'the cursor is not valid', {
      details: [{ field: 'querystring.cursor', message: 'use next_cursor from a previous page' }],
    });
  }
  const rows = await deps.meterRepository.listTotals(input.userId, input.limit + 1, after);
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  const quota = monthlyQuota(deps.quotas, input.tier);
  return {
    data: page.map((meter) => toUsageMeter(meter, quota)),
    next_cursor: rows.length > input.limit && last ? encodeMeterCursor(last) : null,
  };
}
