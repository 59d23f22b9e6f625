import { createHttpServer, type App } from '@offload/platform/http';
import type { GatewayDeps } from './deps.js';
import type { OpenApiDocument } from './domain/openapi.js';
import { registerSecurityHeaders } from './plugins/security-headers.js';
import { docsRoutes } from './routes/docs.js';
import { healthRoutes } from './routes/health.js';
import { proxyRoutes } from './routes/proxy.js';
import { createGetApiDocument } from './use-cases/get-api-document.js';

export const SERVICE_VERSION = '0.1.0';

/**
 * Builds the gateway HTTP app; it never listens (server.ts does). Request ids, the error envelope and
 * the 404 for unknown routes come from the platform's server factory, as in every service; security
 * headers and CORS apply to every response, everything else belongs to the route plugin it serves.
 */
export async function buildGatewayApp(deps: GatewayDeps): Promise<App> {
  const { config } = deps;
  const app = await createHttpServer({
    service: 'gateway',
    version: SERVICE_VERSION,
    logger: deps.logger,
    // The gateway's own routes take no bodies; proxied routes have their caps per prefix.
    bodyLimit: config.BODY_LIMIT_DEFAULT,
    trustProxy: config.TRUSTED_PROXIES,
    // The gateway's own routes as OpenAPI, for the merged document it serves at /openapi.json.
    openapi: { title: 'Offload Cloud gateway', path: false },
  });
  // Slow senders are cut off once the whole request is not in after this long; Node checks it for
  // requests still arriving only, so a streaming response or a WebSocket is never affected.
  app.server.requestTimeout = config.REQUEST_TIMEOUT_MS;
  answerExpectContinueAfterChecks(app);

  await registerSecurityHeaders(app, config);
  await app.register(healthRoutes({ ...deps, service: 'gateway', version: SERVICE_VERSION }));
  await app.register(
    docsRoutes({
      getApiDocument: createGetApiDocument({
        catalog: deps.apiDocuments,
        routes: deps.routes,
        version: SERVICE_VERSION,
        gatewayDocument: () => app.swagger() as OpenApiDocument,
      }),
    }),
  );
  await app.register(proxyRoutes(deps));
  return app;
}

/**
 * `Expect: 100-continue`: Node would answer `100 Continue` as soon as the headers arrive, inviting the
 * body before any check ran. The gateway answers it only when the body is about to be read (the first
 * `preParsing` hook, after token, consent, rate limits and declared size); a refused request gets its
 * final status and `Connection: close` instead, and the client never sends the body. The expectation is
 * the gateway's to answer, so it is not forwarded (see domain/forwarding.ts).
 */
function answerExpectContinueAfterChecks(app: App): void {
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));
  app.addHook('preParsing', async (request, reply, payload) => {
    if (expectsContinue(request.headers.expect) && !reply.raw.headersSent) reply.raw.writeContinue();
    return payload;
  });
}

function expectsContinue(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === '100-continue';
}
