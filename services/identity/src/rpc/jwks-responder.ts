import { identityJwksRpc } from '@offload/contracts';
import type { Logger } from '@offload/platform/logger';
import { serveRpc, type Bus } from '@offload/platform/nats';
import type { SigningKeyRing } from '../security/signing-keys.js';

/** Answers `identity.jwks` requests, so services verify tokens knowing only NATS_URL (DESIGN 2). */
export function serveJwksRpc(deps: { bus: Bus; logger: Logger; keyRing: SigningKeyRing }) {
  return serveRpc(deps.bus, identityJwksRpc, () => deps.keyRing.jwks(), {
    queue: 'identity',
    logger: deps.logger,
  });
}
