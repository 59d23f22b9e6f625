import cors from '@fastify/cors';
import type { App } from '@offload/platform/http';
import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REVEALING_RESPONSE_HEADERS } from '../domain/forwarding.js';

/**
 * The Content-Security-Policy of API responses: JSON renders nothing, loads nothing and may be framed
 * by nobody. The docs pages get their own, looser policy (`DOCS_CSP`).
 */
const API_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
};

/**
 * Swagger UI at `/docs`: its scripts, styles and the merged document come from the gateway itself; it
 * styles elements inline and shows data: images. Nothing from other origins.
 */
export const DOCS_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
};

/** What browsers may read from cross-origin responses besides the CORS-safelisted headers. */
const EXPOSED_HEADERS = [
  'x-request-id',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-policy',
  'deprecation',
  'sunset',
  'link',
  'location',
  'idempotent-replayed',
];

/** What browsers may send cross-origin. */
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  'x-request-id',
  'x-offload-cloud-opt-in',
  'traceparent',
  'tracestate',
];

/**
 * Security headers on every response (`@fastify/helmet`, tuned for an API), CORS for the configured
 * origins only (none by default: no `Access-Control-*` header at all), and no `Server` /
 * `X-Powered-By` headers, whoever set them (a service behind the gateway included). Registered on the
 * root app, before any route.
 */
/** The helmet configuration of every API response. */
export const API_HELMET = {
  contentSecurityPolicy: API_CSP,
  // An API answer is never embedded by another site's page.
  crossOriginResourcePolicy: { policy: 'same-origin' },
  referrerPolicy: { policy: 'no-referrer' },
  frameguard: { action: 'deny' },
} as const;

/**
 * The headers helmet sets for a configuration, computed once. They depend on the configuration only (no
 * per-request directive functions here); `@fastify/helmet` would rebuild the whole helmet middleware on
 * every request, which cost about 5% of the gateway's CPU per proxied request.
 */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader() {},
  };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
  });
  return headers;
}

export async function registerSecurityHeaders(app: App, config: { CORS_ORIGINS: string[] }): Promise<void> {
  // Routes with a `helmet` config of their own (the docs pages, see routes/docs.ts) get it from
  // `@fastify/helmet` in their scope; every other response gets the precomputed API headers.
  const apiHeaders = helmetHeaders(API_HELMET as HelmetOptions);
  app.addHook('onRequest', (request, reply, done) => {
    if ((request.routeOptions.config as { helmet?: unknown }).helmet === undefined) reply.headers(apiHeaders);
    done();
  });
  if (config.CORS_ORIGINS.length > 0) {
    await app.register(cors, {
      origin: config.CORS_ORIGINS,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ALLOWED_HEADERS,
      exposedHeaders: EXPOSED_HEADERS,
      // Bearer tokens, never cookies.
      credentials: false,
      maxAge: 600,
      // A plain OPTIONS without Origin gets the 204 too, instead of a text/plain 400 outside the envelope.
      strictPreflight: false,
    });
  }
  app.addHook('onSend', async (_request, reply, payload) => {
    for (const name of REVEALING_RESPONSE_HEADERS) reply.removeHeader(name);
    return payload;
  });
}
