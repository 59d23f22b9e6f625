import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { notAvailableYet, routePlugin, type App } from '@offload/platform/http';

/**
 * `/v1/subscription/*` for a verified user and `/v1/webhooks/checkout` (DESIGN 10) answer 503
 * `not_available_yet` until the billing issue lands.
 */
export function billingRoutes(deps: { verifier: TokenVerifier }) {
  return routePlugin('billing routes', async (app: App) => {
    await app.register(notAvailableYet(['/v1/subscription/*'], { onRequest: requireUser(deps.verifier) }));
    // Checkout.com calls the webhook without a JWT; it will be verified by `Cko-Signature` instead.
    await app.register(notAvailableYet(['/v1/webhooks/checkout']));
  });
}
