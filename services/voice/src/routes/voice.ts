import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { notAvailableYet } from '@offload/platform/http';

/** `/v1/voice/stream` (DESIGN 11): a verified user gets 503 `not_available_yet` until voice lands. */
export function voiceRoutes(deps: { verifier: TokenVerifier }) {
  return notAvailableYet(['/v1/voice/stream'], { onRequest: requireUser(deps.verifier) });
}
