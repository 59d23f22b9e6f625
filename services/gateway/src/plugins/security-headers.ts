import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { App } from '@offload/platform/http';
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
export async function registerSecurityHeaders(app: App, config: { CORS_ORIGINS: string[] }): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: API_CSP,
    // An API answer is never embedded by another site's page.
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
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
