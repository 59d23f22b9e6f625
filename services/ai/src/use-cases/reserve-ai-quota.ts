import { newId } from '@offload/contracts';
import type { AuthUser } from '@offload/platform/auth';
import { AppError } from '@offload/platform/errors';
import type { Logger } from '@offload/platform/logger';

/** What a use-case logs through: the request's logger (its lines carry the request id). */
export type RequestLog = Pick<Logger, 'info' | 'warn' | 'error'>;
import type { UsageClient } from '../clients/usage-client.js';
import { secondsUntilNextUtcMonth } from '../domain/quota.js';

/** One unit of a monthly meter held for one AI call: committed on success, released on anything else. */
export interface QuotaHold {
  readonly operationId: string;
  readonly state: 'held' | 'committed' | 'released';
  /**
   * Charges the hold. Resolves false when usage did not confirm: the hold then expires after its TTL and
   * the user is not charged (we never fail a call the user already has an answer for over this).
   */
  commit(): Promise<boolean>;
  /** Returns the hold. Idempotent and never throws: a release that gets lost expires after its TTL. */
  release(): Promise<void>;
}

export interface ReserveAiQuotaDeps {
  usage: UsageClient;
  reservationTtlMs: number;
  now: () => number;
}

/**
 * Reserves 1 unit of the meter `feature` for the token's user and device before the provider is called
 * (DESIGN 7 and 8). Denied -> 429 `quota_exceeded` (with `retry_after` = the start of the next UTC month)
 * or 402 `insufficient_credits`; usage unreachable -> 503 `service_unavailable`. A token without an install
 * id cannot be metered per device and gets 403 `forbidden`.
 */
export async function reserveAiQuota(
  deps: ReserveAiQuotaDeps,
  input: { user: AuthUser; feature: string; log: RequestLog },
): Promise<QuotaHold> {
  const installId = input.user.installId;
  if (!installId || installId.length < 8 || installId.length > 128) {
    throw new AppError('forbidden', 'this feature needs a device session (a token with an install id)');
  }
  const operationId = newId();
  let response;
  try {
    response = await deps.usage.reserve({
      operation_id: operationId,
      user_id: input.user.userId,
      tier: input.user.tier,
      resource: { kind: 'meter', feature: input.feature, install_id: installId },
      amount: 1,
      ttl_ms: deps.reservationTtlMs,
    });
  } catch (error) {
    // The reserve may have landed even though its answer did not: return it (idempotent by operation id).
    void deps.usage.release(operationId).catch(() => undefined);
    throw error;
  }
  if (response.status === 'denied') {
    throw response.code === 'quota_exceeded'
      ? new AppError('quota_exceeded', 'the monthly quota of AI actions is used up', {
          retryAfter: secondsUntilNextUtcMonth(deps.now()),
        })
      : new AppError('insufficient_credits', 'not enough AI credits for this request');
  }
  return createHold(deps.usage, operationId, input.log);
}

function createHold(usage: UsageClient, operationId: string, log: RequestLog): QuotaHold {
  let state: QuotaHold['state'] = 'held';
  let releasing: Promise<void> | undefined;
  return {
    operationId,
    get state() {
      return state;
    },
    async commit() {
      if (state !== 'held') return state === 'committed';
      state = 'committed';
      try {
        const settled = await usage.commit(operationId);
        if (settled.status === 'committed' || settled.status === 'already_committed') return true;
        log.warn({ operation_id: operationId, settle: settled.status }, 'quota commit not confirmed');
        return false;
      } catch (error) {
        log.warn(
          { operation_id: operationId, error: (error as { name?: string }).name },
          'quota commit failed; the hold will expire uncharged',
        );
        return false;
      }
    },
    release() {
      if (state === 'committed') return Promise.resolve();
      state = 'released';
      releasing ??= usage.release(operationId).then(
        () => undefined,
        (error: unknown) => {
          log.warn(
            { operation_id: operationId, error: (error as { name?: string }).name },
            'quota release failed; the hold will expire',
          );
        },
      );
      return releasing;
    },
  };
}
