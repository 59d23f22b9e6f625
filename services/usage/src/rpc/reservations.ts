import { usageCommitRpc, usageReleaseRpc, usageReserveRpc } from '@offload/contracts';
import type { Logger } from '@offload/platform/logger';
import { serveRpc, type Bus } from '@offload/platform/nats';
import { commitReservation, type CommitReservationDeps } from '../use-cases/commit-reservation.js';
import { releaseReservation } from '../use-cases/release-reservation.js';
import { reserveUsage, type ReserveUsageDeps } from '../use-cases/reserve-usage.js';

export type ReservationRpcDeps = ReserveUsageDeps & CommitReservationDeps & { bus: Bus; logger: Logger };

/** Queue group of the usage service: each request is answered by one replica. */
export const USAGE_RPC_QUEUE = 'usage';

/**
 * Serves `usage.reserve`, `usage.commit` and `usage.release` over NATS request/reply (DESIGN 2, 8).
 * Thin, like routes: the platform validates both ways; logs carry ids and outcomes, never install ids.
 */
export function serveReservationRpcs(deps: ReservationRpcDeps): { stop(): void } {
  const options = { queue: USAGE_RPC_QUEUE, logger: deps.logger };
  const servers = [
    serveRpc(
      deps.bus,
      usageReserveRpc,
      async (request) => {
        const answer = await reserveUsage(deps, request);
        deps.logger.info(
          {
            rpc: usageReserveRpc.subject,
            operation_id: request.operation_id,
            user_id: request.user_id,
            resource: request.resource.kind,
            amount: request.amount,
            outcome: answer.status === 'granted' ? 'granted' : answer.code,
          },
          'reservation handled',
        );
        return answer;
      },
      options,
    ),
    serveRpc(
      deps.bus,
      usageCommitRpc,
      async (request) => {
        const answer = await commitReservation(deps, request);
        deps.logger.info(
          { rpc: usageCommitRpc.subject, operation_id: request.operation_id, outcome: answer.status },
          'reservation commit handled',
        );
        return answer;
      },
      options,
    ),
    serveRpc(
      deps.bus,
      usageReleaseRpc,
      async (request) => {
        const answer = await releaseReservation(deps, request);
        deps.logger.info(
          { rpc: usageReleaseRpc.subject, operation_id: request.operation_id, outcome: answer.status },
          'reservation release handled',
        );
        return answer;
      },
      options,
    ),
  ];
  return {
    stop() {
      for (const server of servers) server.stop();
    },
  };
}
