import fastifyHelmet from '@fastify/helmet';
import swaggerUi from '@fastify/swagger-ui';
import { routePlugin, type App } from '@offload/platform/http';
import type { FastifyRequest } from 'fastify';
import type { OpenApiDocument } from '../domain/openapi.js';
import { API_HELMET, DOCS_CSP } from '../plugins/security-headers.js';

export interface DocsRoutesDeps {
  getApiDocument: () => Promise<OpenApiDocument>;
}

/**
 * `GET /openapi.json`: the merged document of every service (DESIGN 6), and `/docs`: Swagger UI
 * reading the same document. No token needed; the documents describe the API, not anyone's data.
 */
export function docsRoutes(deps: DocsRoutesDeps) {
  return routePlugin('gateway docs routes', async (app: App) => {
    app.get('/openapi.json', { schema: { hide: true } }, async () => deps.getApiDocument());

    await app.register(
      routePlugin('gateway docs pages', async (docs: App) => {
        // Swagger UI's pages need scripts and styles from the gateway: a policy of their own instead of
        // the API's `default-src 'none'` (read by @fastify/helmet from the route config).
        docs.addHook('onRoute', (route) => {
          route.config = {
            ...route.config,
            helmet: { contentSecurityPolicy: DOCS_CSP },
          } as typeof route.config;
        });
        // Registered in this scope only: its hooks run for the docs pages, not for every API request.
        await docs.register(fastifyHelmet, { ...API_HELMET, global: false });
        const loaded = new WeakMap<FastifyRequest, OpenApiDocument>();
        await docs.register(swaggerUi, {
          routePrefix: '/docs',
          uiHooks: {
            preHandler: async (request) => {
              if (/\/docs\/(json|yaml)$/.test(request.url.split('?')[0]!))
                loaded.set(request, await deps.getApiDocument());
            },
          },
          // Swagger UI serves `/docs/json` from this: the merged document instead of the gateway's own.
          transformSpecification: (_own, request) => loaded.get(request as FastifyRequest) ?? {},
          transformSpecificationClone: false,
          uiConfig: {
            // No "explore any URL" bar: these docs show this API only.
            layout: 'BaseLayout',
            deepLinking: true,
            docExpansion: 'list',
            defaultModelsExpandDepth: -1,
            displayRequestDuration: true,
          },
          theme: { title: 'Offload Cloud API' },
        });
      }),
    );
  });
}
