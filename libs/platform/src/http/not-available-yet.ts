import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { App } from './index.js';
import { routePlugin } from './route-plugin.js';

export interface NotAvailableYetOptions {
  /** Runs before the answer, e.g. `requireUser(verifier)`, so a protected path still answers 401 first. */
  onRequest?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/**
 * Routes of a feature whose issue has not landed: every method answers 503 `not_available_yet` in the
 * envelope, honestly, instead of pretending to work. A path ending in `/*` covers itself and everything
 * below it (`/v1/ai/*` answers `/v1/ai` and `/v1/ai/chat`); any other path is exact. Register it as an
 * encapsulated plugin, so its `onRequest` hook applies to these routes only.
 */
export function notAvailableYet(paths: string[], options: NotAvailableYetOptions = {}) {
  return routePlugin(`not available yet: ${paths.join(', ')}`, async (app: App) => {
    if (options.onRequest) app.addHook('onRequest', options.onRequest);
    const answer = async () => {
      throw new AppError('not_available_yet', 'this feature is not available yet');
    };
    for (const path of paths) {
      const urls = path.endsWith('/*') ? [path.slice(0, -2), path] : [path];
      for (const url of urls) app.all(url, { schema: { hide: true } }, answer);
    }
  });
}
