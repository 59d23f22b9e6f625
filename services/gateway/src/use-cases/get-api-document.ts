import { mergeOpenApi, type OpenApiDocument } from '../domain/openapi.js';
import type { ProxyRoute } from '../domain/routes.js';
import type { ApiDocumentCatalog } from './load-api-documents.js';

export interface GetApiDocumentDeps {
  catalog: ApiDocumentCatalog;
  routes: readonly ProxyRoute[];
  version: string;
  /** The gateway's own routes as OpenAPI (its `/v1/health`). */
  gatewayDocument: () => OpenApiDocument;
}

const INFO = {
  title: 'Offload Cloud API',
  description:
    'Every public route of Offload Cloud, as clients call them through the gateway. Protected routes ' +
    'need `Authorization: Bearer <access token>` (from `POST /v1/sessions/anonymous` or ' +
    '`POST /v1/auth/google`); `/v1/ai/*` also needs `X-Offload-Cloud-Opt-In: true`. Errors share one ' +
    'envelope: `{"error": {"code", "message", "request_id"}}`.',
};

/**
 * The merged OpenAPI document (DESIGN 6), rebuilt only when a service's document changed. Returns a
 * function so the route and the docs UI share one cache.
 */
export function createGetApiDocument(deps: GetApiDocumentDeps): () => Promise<OpenApiDocument> {
  let cached: { version: number; document: OpenApiDocument } | undefined;
  return async () => {
    const { version, documents } = await deps.catalog.documents();
    if (cached?.version !== version) {
      cached = {
        version,
        document: mergeOpenApi({
          info: { ...INFO, version: deps.version },
          gateway: deps.gatewayDocument(),
          services: documents,
          routes: deps.routes,
        }),
      };
    }
    return cached.document;
  };
}
