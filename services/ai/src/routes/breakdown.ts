import { BreakdownGenerateRequest, BreakdownGenerateResponse } from '@offload/contracts';
import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { AppError } from '@offload/platform/errors';
import { clientGoneSignal, errorResponse, routePlugin, type App } from '@offload/platform/http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CONSENT_HEADER, hasCloudConsent } from '../domain/consent.js';
import type { AiProvider } from '../domain/provider.js';
import { generateBreakdown, type GenerateBreakdownDeps } from '../use-cases/generate-breakdown.js';
import { reserveAiQuota, type QuotaHold, type ReserveAiQuotaDeps } from '../use-cases/reserve-ai-quota.js';

export interface BreakdownRoutesDeps extends Omit<GenerateBreakdownDeps, 'provider'>, ReserveAiQuotaDeps {
  verifier: TokenVerifier;
  /** Absent when no provider key is configured: the route then answers 503 `provider_unavailable`. */
  provider: AiProvider | undefined;
}

/** The meter a breakdown counts against (DESIGN 8: the monthly quota of AI actions). */
export const BREAKDOWN_FEATURE = 'ai_breakdown';

const errors = {
  401: errorResponse,
  402: errorResponse,
  403: errorResponse,
  413: errorResponse,
  422: errorResponse,
  429: errorResponse,
  502: errorResponse,
  503: errorResponse,
  504: errorResponse,
};

/** What one request carries from the quota step to the handler. */
interface CallState {
  hold: QuotaHold;
  /** Aborts when the client goes away. */
  cancel: AbortSignal;
}

/**
 * `POST /v1/ai/breakdown/generate` (DESIGN 7). The checks run in the order the issue fixes, mapped onto
 * Fastify's lifecycle:
 *   onRequest     1. token (401)  2. consent (403)  - and 503 `provider_unavailable` without a key, before
 *                 anything is reserved
 *   preParsing    3. quota: reserve 1 unit of `ai_breakdown` before the body is even read (429)
 *   validation    4. body (422, strict: unknown fields rejected)
 *   handler       5. inference limit (429)  6. size (413)  7. provider  8. charge (commit)
 * A hold taken in step 3 is released by whoever ends the request without success: the use-case for steps
 * 5-8, the `onSend` hook for a rejected body (before the error is written), and the response's `close`
 * for a client that disconnects at any point (watched from the first hook on; a client gone before or
 * during the reserve ends the request there). Releases are idempotent.
 * A disconnect is seen on the response (`clientGoneSignal`).
 */
export function breakdownRoutes(deps: BreakdownRoutesDeps) {
  return routePlugin('ai breakdown routes', async (app: App) => {
    const calls = new WeakMap<FastifyRequest, CallState>();
    const cancels = new WeakMap<FastifyRequest, AbortSignal>();

    // First of all: a client can leave during any later step (the token check, the reserve).
    app.addHook('onRequest', async (request, reply) => {
      cancels.set(request, clientGoneSignal(reply));
    });
    app.addHook('onRequest', requireUser(deps.verifier));
    app.addHook('onRequest', async (request) => {
      if (!hasCloudConsent(request.headers[CONSENT_HEADER])) {
        throw new AppError('consent_required', `cloud AI needs the ${CONSENT_HEADER}: true header`);
      }
      if (!deps.provider) {
        throw new AppError('provider_unavailable', 'no AI provider is configured');
      }
    });
    app.addHook('preParsing', async (request, reply, payload) => {
      const cancel = cancels.get(request)!;
      // Gone already, or during the reserve: end here (returning the unit). Nobody reads an answer, and
      // the body of a closed request never finishes arriving (Fastify would wait for it for ever).
      if (cancel.aborted) return endForGoneClient(request, reply, payload);
      const hold = await reserveAiQuota(deps, {
        user: request.user,
        feature: BREAKDOWN_FEATURE,
        log: request.log,
      });
      calls.set(request, { hold, cancel });
      if (cancel.aborted) {
        await hold.release();
        return endForGoneClient(request, reply, payload);
      }
      cancel.addEventListener('abort', () => void hold.release(), { once: true });
      return payload;
    });
    app.addHook('onSend', async (request, reply, payload) => {
      const state = calls.get(request);
      if (state && reply.statusCode >= 400) await state.hold.release();
      return payload;
    });

    app.post(
      '/v1/ai/breakdown/generate',
      {
        schema: {
          tags: ['ai'],
          summary: 'Break a task into small steps (cloud AI, needs X-Offload-Cloud-Opt-In: true)',
          security: [{ bearerAuth: [] }],
          body: BreakdownGenerateRequest,
          response: { 200: BreakdownGenerateResponse, ...errors },
        },
      },
      async (request) => {
        const state = calls.get(request)!;
        return generateBreakdown(
          { ...deps, provider: deps.provider! },
          {
            user: request.user,
            ip: request.ip,
            request: request.body,
            hold: state.hold,
            signal: state.cancel,
            log: request.log,
          },
        );
      },
    );
  });
}

function endForGoneClient<T>(request: FastifyRequest, reply: FastifyReply, payload: T): T {
  request.log.info('client left before the body was read; the call ends here');
  reply.hijack();
  return payload;
}
