import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import swagger from '@fastify/swagger';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from '@fastify/type-provider-zod';
import { z } from 'zod';
import type { Logger } from '../logger/index.js';
import { AppError } from '../errors.js';
import { fastifyTelemetryPlugin, meter, telemetryStarted } from '../telemetry/index.js';
import { requestIdFrom } from './request-id.js';
import { sendError } from './error-handler.js';

export { clientGoneSignal } from './client-gone.js';
export { envelopeOf, sendError, toAppError } from './error-handler.js';
export { requestIdFrom } from './request-id.js';
export { notAvailableYet, type NotAvailableYetOptions } from './not-available-yet.js';
export { routePlugin } from './route-plugin.js';
export type { ZodTypeProvider } from '@fastify/type-provider-zod';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export type ReadinessCheck = () => Promise<void>;

export interface HttpServerOptions {
  service: string;
  version: string;
  logger: Logger;
  /** Named checks for `/health/ready`, e.g. postgres and nats. */
  readiness?: Record<string, ReadinessCheck>;
  bodyLimit?: number;
  /**
   * OpenAPI document info; the spec is served at `path` (default `/openapi.json`), or not served when
   * `path` is false (the gateway serves a merged document there and reads its own with `app.swagger()`).
   */
  openapi?: { title: string; description?: string; path?: string | false };
  trustProxy?: boolean | string | string[];
}

/**
 * The server factory every service uses (STYLE: the app is built by a factory and never listens):
 * zod type provider, request ids, telemetry, the one error envelope, health routes and OpenAPI.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<App> {
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    trustProxy: options.trustProxy ?? false,
    return503OnClosing: true,
    // Validation messages quote what the client sent (e.g. unknown keys) and @fastify/otel copies error
    // messages into span status: keep them generic. Clients get field-level details from the envelope.
    schemaErrorFormatter: (_errors, dataVar) => new Error(`the request ${dataVar} is not valid`),
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<ZodTypeProvider>() as unknown as App;

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Server spans only when the SDK runs: without it the plugin would still wrap every request in
  // no-op context switches (a few percent of a proxied request's CPU in the gateway).
  if (telemetryStarted()) await app.register(fastifyTelemetryPlugin());

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  const duration = meter().createHistogram('http.server.request.duration', {
    unit: 's',
    description: 'Duration of HTTP server requests',
  });
  // One line per request: method, route pattern, status, latency. Never bodies, never query strings.
  app.addHook('onResponse', async (request, reply) => {
    duration.record(reply.elapsedTime / 1000, {
      'http.request.method': request.method,
      'http.route': request.routeOptions.url ?? 'unknown',
      'http.response.status_code': reply.statusCode,
      'service.name': options.service,
    });
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
  });

  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new AppError('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`),
    ),
  );

  if (options.openapi) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: options.openapi.title,
          description: options.openapi.description,
          version: options.version,
        },
        components: {
          securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        },
      },
      transform: jsonSchemaTransform,
    });
    const path = options.openapi.path ?? '/openapi.json';
    if (path !== false) app.get(path, { schema: { hide: true } }, async () => app.swagger());
  }

  const checks = options.readiness ?? {};
  app.get('/health/live', { schema: { hide: true } }, async () => ({
    status: 'ok',
    service: options.service,
  }));
  app.get('/health/ready', { schema: { hide: true } }, async (_request, reply) => {
    const results: Record<string, 'ok' | 'down'> = {};
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        results[name] = await withTimeout(check(), 2_000).then(
          () => 'ok' as const,
          () => 'down' as const,
        );
      }),
    );
    const ok = Object.values(results).every((r) => r === 'ok');
    return reply
      .code(ok ? 200 : 503)
      .send({ status: ok ? 'ok' : 'down', service: options.service, checks: results });
  });

  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Schema helpers for routes: the error envelope as the documented response of every error status. */
export const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    request_id: z.string(),
    details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    retry_after: z.number().optional(),
    refresh_required: z.boolean().optional(),
  }),
});
