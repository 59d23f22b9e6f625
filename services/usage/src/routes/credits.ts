import { CreditBalance } from '@offload/contracts';
import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { errorResponse, routePlugin, type App } from '@offload/platform/http';
import { getCreditBalance, type GetCreditBalanceDeps } from '../use-cases/get-credit-balance.js';

export interface CreditRoutesDeps extends GetCreditBalanceDeps {
  verifier: TokenVerifier;
}

/** Thin routes: every route needs a user (encapsulated hook). */
export function creditRoutes(deps: CreditRoutesDeps) {
  return routePlugin('usage credit routes', async (app: App) => {
    app.addHook('onRequest', requireUser(deps.verifier));

    app.get(
      '/v1/credits/balance',
      {
        schema: {
          tags: ['credits'],
          summary: 'Spendable credits per kind and when the daily ones reset',
          security: [{ bearerAuth: [] }],
          response: { 200: CreditBalance, 401: errorResponse },
        },
      },
      async (request) => getCreditBalance(deps, { userId: request.user.userId }),
    );
  });
}
