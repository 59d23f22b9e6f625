import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { notAvailableYet } from '@offload/platform/http';

/**
 * The rest of `/v1/ai/*` (DESIGN 7: chat, subtasks, note conversion): a verified user gets 503
 * `not_available_yet` until those land. `POST /v1/ai/breakdown/generate` is served by routes/breakdown.ts
 * (a static route wins over this wildcard).
 */
export function aiRoutes(deps: { verifier: TokenVerifier }) {
  return notAvailableYet(['/v1/ai/*'], { onRequest: requireUser(deps.verifier) });
}
