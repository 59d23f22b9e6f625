import type { Logger } from '@offload/platform/logger';
import type { OpenApiDocument } from '../domain/openapi.js';
import { SERVICES, type ServiceName } from '../domain/routes.js';

export interface ServiceDocuments {
  /** Bumped whenever a document changes, so callers can cache what they derive from them. */
  version: number;
  documents: Array<{ service: ServiceName; document: OpenApiDocument | undefined }>;
}

export interface ApiDocumentCatalog {
  /**
   * The latest document of every service. The first call fetches them all; later calls answer from
   * memory and refresh in the background once the documents are older than `refreshMs`, or after
   * `retryMs` while a service has not answered yet.
   */
  documents(): Promise<ServiceDocuments>;
  /** Fetches every document now (e.g. at start) and waits for it. */
  refresh(): Promise<void>;
}

export interface ApiDocumentCatalogDeps {
  upstreams: Record<ServiceName, string>;
  logger: Logger;
  config: { OPENAPI_REFRESH_MS: number; OPENAPI_TIMEOUT_MS: number };
  /** How soon a service that did not answer is asked again (default 5 s). */
  retryMs?: number;
}

/**
 * Every service publishes its OpenAPI document at `/openapi.json` (platform `createHttpServer`); the
 * gateway keeps the last good copy of each. A service that is down or answers garbage keeps its last
 * good document, or none yet: the merged document then lacks its operations and says so, and the rest
 * of the API documentation still works.
 */
export function createApiDocumentCatalog(deps: ApiDocumentCatalogDeps): ApiDocumentCatalog {
  const retryMs = deps.retryMs ?? 5_000;
  const documents = new Map<ServiceName, OpenApiDocument>();
  let version = 0;
  let refreshedAt = 0;
  let inflight: Promise<void> | undefined;

  const fetchOne = async (service: ServiceName) => {
    try {
      const response = await fetch(`${deps.upstreams[service]}/openapi.json`, {
        signal: AbortSignal.timeout(deps.config.OPENAPI_TIMEOUT_MS),
      });
      if (!response.ok) throw Object.assign(new Error('not ok'), { code: `HTTP_${response.status}` });
      const document = (await response.json()) as unknown;
      if (!isOpenApiDocument(document))
        throw Object.assign(new Error('not OpenAPI'), { code: 'NOT_OPENAPI' });
      const before = documents.get(service);
      if (!before || JSON.stringify(before) !== JSON.stringify(document)) {
        documents.set(service, document);
        version += 1;
      }
    } catch (error) {
      const cause = error as { code?: unknown; name?: string; cause?: { code?: unknown } };
      deps.logger.warn(
        {
          // `service` is the logger's own field (gateway).
          upstream: service,
          cause_code: cause.cause?.code ?? cause.code ?? cause.name,
          kept_previous: documents.has(service),
        },
        'could not load a service’s OpenAPI document',
      );
    }
  };

  const refresh = (): Promise<void> => {
    inflight ??= Promise.all(SERVICES.map(fetchOne))
      .then(() => {
        refreshedAt = Date.now();
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };

  const snapshot = (): ServiceDocuments => ({
    version,
    documents: SERVICES.map((service) => ({ service, document: documents.get(service) })),
  });

  return {
    refresh,
    async documents() {
      if (refreshedAt === 0) await refresh();
      else {
        const age = Date.now() - refreshedAt;
        const incomplete = documents.size < SERVICES.length;
        if (age > deps.config.OPENAPI_REFRESH_MS || (incomplete && age > retryMs)) void refresh();
      }
      return snapshot();
    },
  };
}

function isOpenApiDocument(value: unknown): value is OpenApiDocument {
  if (typeof value !== 'object' || value === null) return false;
  const { openapi, paths } = value as { openapi?: unknown; paths?: unknown };
  return typeof openapi === 'string' && /^3\./.test(openapi) && typeof paths === 'object' && paths !== null;
}
