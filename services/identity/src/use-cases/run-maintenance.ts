import type { MaintenanceRepository } from '../db/maintenance-repository.js';
import type { RateLimitRepository } from '../db/rate-limit-repository.js';

/**
 * Periodic clean-up: rate-limit buckets idle long enough to be full again, sessions past their absolute
 * lifetime, cutoffs no live token can fall under, and completed erasure records after 30 days.
 */
export async function runMaintenance(deps: {
  maintenanceRepository: MaintenanceRepository;
  rateLimitRepository: RateLimitRepository;
  /** Longest rate-limit window, in seconds. */
  rateLimitWindowSeconds: number;
  accessTokenTtlSeconds: number;
}): Promise<Record<string, number>> {
  return {
    rate_limit_buckets: await deps.rateLimitRepository.prune(deps.rateLimitWindowSeconds * 2),
    sessions: await deps.maintenanceRepository.pruneEndedSessions(),
    session_cutoffs: await deps.maintenanceRepository.pruneCutoffs(deps.accessTokenTtlSeconds + 120),
    erasures: await deps.maintenanceRepository.pruneCompletedErasures(30),
  };
}
