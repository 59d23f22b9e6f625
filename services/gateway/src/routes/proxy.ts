import proxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy';
import { bearerToken, type TokenVerifier } from '@offload/platform/auth';
import { AppError } from '@offload/platform/errors';
import { sendError, routePlugin, type App } from '@offload/platform/http';
import { context, propagation } from '@offload/platform/telemetry';
import type { ErrorCode } from '@offload/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { bodyLimitFor, type BodyLimits } from '../domain/body-limits.js';
import { CONSENT_HEADER, hasCloudConsent } from '../domain/consent.js';
import {
  cleanResponseHeaders,
  isStrippedRequestHeader,
  TRACE_HEADERS,
  upstreamFailureCode,
} from '../domain/forwarding.js';
import { deprecationHeaders, type ProxyRoute, type ServiceName } from '../domain/routes.js';
import {
  checkDeclaredLength,
  hasPendingBody,
  passedBodyLimit,
  streamingBodyLimit,
  tooLargeError,
} from '../plugins/body-limit.js';
import type { RateLimitStore } from '../plugins/rate-limit-store.js';
import { registerRateLimits, type EnforceRateLimits } from '../plugins/rate-limits.js';
import { cancellablePool, clientGone, watchClient, withCancelSignal } from '../plugins/upstream-cancel.js';

export interface ProxyRoutesDeps {
  verifier: TokenVerifier;
  upstreams: Record<ServiceName, string>;
  routes: readonly ProxyRoute[];
  rateLimitStore: RateLimitStore;
  config: {
    PROXY_CONNECTIONS: number;
    UPSTREAM_TIMEOUT_MS: number;
    UPSTREAM_IDLE_TIMEOUT_MS: number;
    RATE_LIMIT_WINDOW_MS: number;
    RATE_LIMIT_PER_USER: number;
    RATE_LIMIT_AI_PER_USER: number;
    RATE_LIMIT_AUTH_PER_IP: number;
    BODY_LIMIT_DEFAULT: number;
    BODY_LIMITS: Array<[string, number]>;
  };
}

const FAILURE_MESSAGES: Partial<Record<ErrorCode, string>> = {
  service_unavailable: 'the service is not available right now, try again shortly',
  gateway_timeout: 'the service did not answer in time',
  bad_gateway: 'the service sent an invalid response',
};

/**
 * One `@fastify/http-proxy` registration per row of the route table, each in its own encapsulated
 * scope, so every check is a hook of exactly the proxies it belongs to (STYLE: no global URL-prefix
 * checks). Upstream responses, error envelopes included, pass through untouched apart from hop-by-hop
 * and revealing headers; only the gateway's own refusals and failures get the gateway's envelope. A
 * client that hangs up cancels the service call (plugins/upstream-cancel.ts).
 */
export function proxyRoutes(deps: ProxyRoutesDeps) {
  return routePlugin('gateway proxy routes', async (app: App) => {
    const { config } = deps;
    const enforceLimits = await registerRateLimits(app, {
      store: deps.rateLimitStore,
      windowMs: config.RATE_LIMIT_WINDOW_MS,
      max: {
        user: config.RATE_LIMIT_PER_USER,
        ai: config.RATE_LIMIT_AI_PER_USER,
        ip: config.RATE_LIMIT_AUTH_PER_IP,
      },
    });
    const bodyLimits: BodyLimits = { defaultBytes: config.BODY_LIMIT_DEFAULT, byPrefix: config.BODY_LIMITS };
    for (const route of deps.routes) {
      const bodyLimit = bodyLimitFor(bodyLimits, route);
      await app.register(
        routePlugin(`gateway proxy ${route.prefix}`, async (scope: App) => {
          // The proxy's catch-all routes are no API of their own: the merged OpenAPI document describes
          // the services' real operations instead.
          scope.addHook('onRoute', (options) => {
            options.schema = { ...options.schema, hide: true };
          });
          // Bodies stream to the service unparsed, whatever their type (the proxy adds its pass-through
          // parsers for `*` and JSON; Fastify's own text/plain parser would buffer those bodies).
          scope.removeAllContentTypeParsers();
          scope.addHook('onRequest', guardOf(route, { verifier: deps.verifier, enforceLimits, bodyLimit }));
          // Past the guard: a client that hangs up from here on cancels the service call.
          scope.addHook('onRequest', watchClient);
          scope.addHook('preParsing', streamingBodyLimit(bodyLimit));
          await scope.register(proxy, proxyOptions(route, deps, bodyLimit));
        }),
      );
    }
  });
}

/**
 * Everything the gateway checks before a request reaches a service, in this order: deprecation headers
 * (so even a refusal carries them), upgrades (WebSocket where the row allows it, nothing else), the
 * bearer token, cloud-AI consent, the row's rate limits, the declared body size. All of it runs before
 * a byte of the body is read; a refused request with a body still on the wire gets `Connection: close`,
 * so the gateway never reads the rest.
 */
function guardOf(
  route: ProxyRoute,
  deps: { verifier: TokenVerifier; enforceLimits: EnforceRateLimits; bodyLimit: number },
) {
  const deprecation = route.deprecation ? deprecationHeaders(route.deprecation) : undefined;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (deprecation) reply.headers(deprecation);
    try {
      if (isUpgrade(request)) {
        // The upgrade carries no token (DESIGN 11: the first message authenticates, the service checks
        // it) and is not counted by any limit.
        if (route.websocket && isWebSocketUpgrade(request)) return;
        throw new AppError('not_found', 'no WebSocket endpoint here');
      }
      if (route.access === 'bearer') request.user = await deps.verifier.verify(bearerToken(request));
      if (route.consent && !hasCloudConsent(request.headers[CONSENT_HEADER]))
        throw new AppError('consent_required', 'cloud AI needs the header X-Offload-Cloud-Opt-In: true');
      await deps.enforceLimits(request, reply, route.limits);
      checkDeclaredLength(request, deps.bodyLimit);
    } catch (error) {
      if (hasPendingBody(request)) reply.header('connection', 'close');
      throw error;
    }
  };
}

/** Node hands a request to the proxy's upgrade path when it has `Connection: upgrade` and `Upgrade`. */
function isUpgrade(request: FastifyRequest): boolean {
  return (
    request.headers.upgrade !== undefined && /(^|,)\s*upgrade\s*(,|$)/i.test(request.headers.connection ?? '')
  );
}

function isWebSocketUpgrade(request: FastifyRequest): boolean {
  return isUpgrade(request) && request.headers.upgrade?.toLowerCase() === 'websocket';
}

type ReplyOptions = NonNullable<FastifyHttpProxyOptions['replyOptions']>;

function proxyOptions(route: ProxyRoute, deps: ProxyRoutesDeps, bodyLimit: number): FastifyHttpProxyOptions {
  const replyOptions: ReplyOptions = {
    rewriteRequestHeaders: (request, headers) =>
      forwardedHeaders(request as FastifyRequest, headers as IncomingHttpHeaders),
    rewriteHeaders: (headers, request) => {
      cleanResponseHeaders(headers);
      // The client's correlation key is the gateway's request id, whatever the service echoed.
      if (request) headers['x-request-id'] = request.id;
      return headers;
    },
    onError: (reply, { error }) => failUpstream(reply as FastifyReply, error, bodyLimit),
    // Never retried here: a 503 envelope from a service reaches the client at once, and a non-idempotent
    // request is never sent twice. Clients retry with their own backoff.
    retryDelay: () => null,
  };
  const options: FastifyHttpProxyOptions = {
    upstream: deps.upstreams[route.service],
    prefix: route.prefix,
    // Services serve the same public paths, so the prefix is forwarded as it is.
    rewritePrefix: route.prefix,
    // Its requests abort when their client hangs up (plugins/upstream-cancel.ts).
    undici: cancellablePool(deps.upstreams[route.service], {
      connections: deps.config.PROXY_CONNECTIONS,
      pipelining: 1,
      headersTimeout: deps.config.UPSTREAM_TIMEOUT_MS,
      // An idle timeout between body chunks, never a total one: SSE streams run as long as they talk.
      bodyTimeout: deps.config.UPSTREAM_IDLE_TIMEOUT_MS,
    }),
    destroyAgent: true,
    disableRequestLogging: true,
    replyOptions,
  };
  if (!route.websocket) return options;
  return {
    ...options,
    websocket: true,
    wsClientOptions: {
      // Supported by @fastify/http-proxy, missing from its types.
      rewriteRequestHeaders: (_configured: IncomingHttpHeaders, request: FastifyRequest) =>
        handshakeHeaders(request),
    },
  } as FastifyHttpProxyOptions;
}

/**
 * The request headers a service receives over HTTP: the client's own, minus anything that could pose as
 * internal identity or forwarding information, plus the gateway's own. When telemetry runs, the client's
 * trace headers make way for the gateway span's context, which the undici instrumentation injects, so
 * the service continues one trace and never sees two `traceparent` headers. Without telemetry they pass
 * through unchanged.
 */
function forwardedHeaders(request: FastifyRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
  for (const name of Object.keys(headers)) if (isStrippedRequestHeader(name)) delete headers[name];
  for (const field of propagation.fields()) delete headers[field];
  return withCancelSignal(request, Object.assign(headers, gatewayHeaders(request)));
}

/**
 * The headers of the WebSocket handshake with the service. ws's handshake goes through node:http, which
 * the undici instrumentation does not see, so the trace context is injected here; without telemetry the
 * client's trace headers are passed on. The token arrives later, in the first message.
 */
function handshakeHeaders(request: FastifyRequest): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  if (propagation.fields().length > 0) propagation.inject(context.active(), headers);
  else for (const name of TRACE_HEADERS) if (request.headers[name]) headers[name] = request.headers[name];
  return Object.assign(headers, gatewayHeaders(request));
}

const gatewayHeaders = (request: FastifyRequest) => ({
  'x-request-id': request.id,
  'x-forwarded-for': request.ip,
  'x-forwarded-proto': request.protocol,
});

/** The envelope for a failed upstream call; the error handler logs its code and root cause. */
function failUpstream(reply: FastifyReply, error: Error, bodyLimit: number) {
  if (clientGone(reply.request)) {
    // Cancelled because the client left: nobody reads an answer, and it is no failure of the service.
    reply.request.log.info('client closed the request; the service call was cancelled');
    reply.hijack();
    return;
  }
  if (passedBodyLimit(reply.request)) {
    // The upload was stopped on purpose: the body passed the cap while streaming.
    reply.header('connection', 'close');
    void sendError(reply.request, reply, tooLargeError(bodyLimit));
    return;
  }
  const causes = causeChain(error);
  const code = upstreamFailureCode(causes.map((c) => c.code));
  const root = causes.at(-1)!;

  void sendError(
    reply.request,
    reply,
    new AppError(code, FAILURE_MESSAGES[code] ?? 'the service failed', { cause: root.error }),
  );
}

/** The error, its causes and (for aggregate connection errors) their members, outermost first. */
function causeChain(error: unknown): Array<{ error: unknown; code: string | undefined }> {
  const chain: Array<{ error: unknown; code: string | undefined }> = [];
  const codeOf = (e: unknown) => {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  };
  let current: unknown = error;
  for (let depth = 0; current && depth < 8; depth++) {
    chain.push({ error: current, code: codeOf(current) });
    const { errors, cause } = current as { errors?: unknown; cause?: unknown };
    if (Array.isArray(errors))
      for (const member of errors) chain.push({ error: member, code: codeOf(member) });
    current = cause;
  }
  return chain;
}
