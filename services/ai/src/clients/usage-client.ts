import {
  usageCommitRpc,
  usageReleaseRpc,
  usageReserveRpc,
  type ReserveRequest,
  type ReserveResponse,
  type SettleResponse,
} from '@offload/contracts';
import { callRpc, type Bus } from '@offload/platform/nats';

/** usage's reservations (DESIGN 8) as the ai service needs them: reserve, then commit or release. */
export interface UsageClient {
  reserve(request: ReserveRequest): Promise<ReserveResponse>;
  commit(operationId: string): Promise<SettleResponse>;
  release(operationId: string): Promise<SettleResponse>;
}

/**
 * Over NATS request/reply with zod-validated payloads (platform `callRpc`). A call that gets no answer
 * throws AppError `service_unavailable`. Every call is idempotent by operation id on usage's side.
 */
export function natsUsageClient(bus: Bus, options: { timeoutMs: number }): UsageClient {
  const rpc = { timeoutMs: options.timeoutMs };
  return {
    reserve: (request) => callRpc(bus, usageReserveRpc, request, rpc),
    commit: (operationId) => callRpc(bus, usageCommitRpc, { operation_id: operationId }, rpc),
    release: (operationId) => callRpc(bus, usageReleaseRpc, { operation_id: operationId }, rpc),
  };
}
