import { identityRevocationsRpc } from '@offload/contracts';
import type { Logger } from '@offload/platform/logger';
import { serveRpc, type Bus } from '@offload/platform/nats';
import type { RevocationRepository } from '../db/revocation-repository.js';
import { listRevocations } from '../use-cases/list-revocations.js';

/** Answers `identity.revocations`, which `createRevocationList` loads at start and after reconnects. */
export function serveRevocationsRpc(deps: {
  bus: Bus;
  logger: Logger;
  revocationRepository: RevocationRepository;
  accessTokenTtlSeconds: number;
}) {
  return serveRpc(deps.bus, identityRevocationsRpc, (request) => listRevocations(deps, request), {
    queue: 'identity',
    logger: deps.logger,
  });
}
