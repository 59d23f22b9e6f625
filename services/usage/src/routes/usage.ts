import { PageQuery, ReconcileRequest, ReconcileResponse, UsageMeterPage } from '@offload/contracts';
import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { errorResponse, routePlugin, type App } from '@offload/platform/http';
import { listUsage, type ListUsageDeps } from '../use-cases/list-usage.js';
import { reconcileUsage, type ReconcileUsageDeps } from '../use-cases/reconcile-usage.js';

export interface UsageRoutesDeps extends ReconcileUsageDeps, ListUsageDeps {
  verifier: TokenVerifier;
}

const errors = { 401: errorResponse, 422: errorResponse };

/** Thin routes for the meters (DESIGN 8). Every route needs a user (encapsulated hook). */
export function usageRoutes(deps: UsageRoutesDeps) {
  return routePlugin('usage routes', async (app: App) => {
    app.addHook('onRequest', requireUser(deps.verifier));

    app.post(
      '/v1/usage/reconcile',
      {
        schema: {
          tags: ['usage'],
          summary: "Merge this device's local count into its meter for the current UTC month",
          description:
            'Stores max(stored, local_count) for the token’s device, so a count never decreases; answers ' +
            'the user’s total over every device this month and what is left of the tier’s monthly quota. ' +
            'A `since` earlier than the month’s start (beyond any time-zone offset) means the count spans ' +
            'two months: it is not applied, and the answer shows the current month.',
          security: [{ bearerAuth: [] }],
          body: ReconcileRequest,
          response: { 200: ReconcileResponse, 403: errorResponse, ...errors },
        },
      },
      async (request) => reconcileUsage(deps, { user: request.user, request: request.body }),
    );

    app.get(
      '/v1/usage',
      {
        schema: {
          tags: ['usage'],
          summary: 'Every meter of the user: per feature and UTC month, summed over devices, newest first',
          security: [{ bearerAuth: [] }],
          querystring: PageQuery,
          response: { 200: UsageMeterPage, ...errors },
        },
      },
      async (request) =>
        listUsage(deps, {
          userId: request.user.userId,
          tier: request.user.tier,
          limit: request.query.limit,
          cursor: request.query.cursor,
        }),
    );
  });
}
