import type { Database } from '@offload/platform/db';
import type { Logger } from '@offload/platform/logger';
import type { ReservationRepository } from '../db/reservation-repository.js';
import type { UsageSchema } from '../db/schema.js';
import type { UserDataRepository } from '../db/user-data-repository.js';
import { expireReservations } from '../use-cases/expire-reservations.js';

export interface ReservationSweeper {
  /** Runs one sweep now (also what the timer does). */
  sweep(): Promise<{ expired: number; purged: number; forgotten: number }>;
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`, marks holds past their TTL expired, purges old settled reservations and forgets old
 * erasure marks. Safe with
 * several replicas: both statements are idempotent. A failed sweep is logged and retried next time.
 */
export function startReservationSweeper(deps: {
  reservationRepository: ReservationRepository;
  userDataRepository: UserDataRepository;
  database: Database<UsageSchema>;
  logger: Logger;
  intervalMs: number;
  retentionDays: number;
}): ReservationSweeper {
  let running: Promise<{ expired: number; purged: number; forgotten: number }> | undefined;
  const sweep = () => {
    running ??= expireReservations(deps, { retentionDays: deps.retentionDays }).finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    sweep().then(
      (result) => {
        if (result.expired > 0 || result.purged > 0 || result.forgotten > 0)
          deps.logger.info(result, 'reservations swept');
      },
      (error: Error) => deps.logger.warn({ error: error.name }, 'reservation sweep failed; will retry'),
    );
  }, deps.intervalMs);
  timer.unref();
  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
