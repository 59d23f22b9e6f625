import { routeForPath, type ProxyRoute, type ServiceName } from './routes.js';

/**
 * Merges the OpenAPI documents of every service and the gateway's own into the one document clients
 * read at `/openapi.json` (DESIGN 6). Pure: the documents come in, one document goes out.
 *
 * - Paths appear as clients see them, and only where the route table sends them: a path a service
 *   documents but the gateway routes elsewhere (or nowhere) is left out.
 * - Components never clash: identical definitions are shared, a different definition under a name
 *   already taken is renamed `<service>_<name>`, and every `$ref` (and, for security schemes, every
 *   security requirement) of that service follows the rename.
 * - Tags are merged by name; operation ids stay unique; operations of a deprecated prefix are marked
 *   `deprecated`; the gateway's own answers (429 from its rate limits, 503 when a service is down) are
 *   added to the operations they apply to.
 */

export type OpenApiDocument = {
  openapi?: string;
  info?: { title?: string; version?: string; description?: string };
  paths?: Record<string, PathItem>;
  components?: Record<string, Record<string, unknown>>;
  tags?: Tag[];
  security?: SecurityRequirement[];
  [extension: string]: unknown;
};
type PathItem = Record<string, unknown>;
type Operation = Record<string, unknown> & {
  operationId?: string;
  security?: SecurityRequirement[];
  responses?: Record<string, unknown>;
  tags?: string[];
  deprecated?: boolean;
};
type SecurityRequirement = Record<string, string[]>;
type Tag = { name: string; description?: string; [key: string]: unknown };

export type ServiceAvailability = 'ok' | 'unavailable';

export interface MergeInput {
  info: { title: string; version: string; description: string };
  /** The gateway's own routes (e.g. `/v1/health`); kept as they are. */
  gateway: OpenApiDocument;
  /** Every service's document, or undefined when the service did not answer. */
  services: ReadonlyArray<{ service: ServiceName; document: OpenApiDocument | undefined }>;
  routes: readonly ProxyRoute[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Extension field listing which service documents went into the merged document. */
export const SERVICES_EXTENSION = 'x-offload-services';

export function mergeOpenApi(input: MergeInput): OpenApiDocument {
  const merged: Required<Pick<OpenApiDocument, 'paths' | 'components' | 'tags'>> & OpenApiDocument = {
    openapi: '3.1.0',
    info: { ...input.info },
    paths: {},
    components: {},
    tags: [],
  };
  const operationIds = new Set<string>();
  const status: Record<string, ServiceAvailability> = {};

  // `keep` says whether a path of the source belongs in the merged document, and behind which row.
  const sources: Array<{
    name: string;
    document: OpenApiDocument;
    keep: (path: string) => ProxyRoute | 'own' | undefined;
  }> = [{ name: 'gateway', document: input.gateway, keep: () => 'own' }];
  for (const { service, document } of input.services) {
    status[service] = document ? 'ok' : 'unavailable';
    if (!document) continue;
    sources.push({
      name: service,
      document,
      keep: (path) => {
        const route = routeForPath(input.routes, path);
        return route?.service === service ? route : undefined;
      },
    });
  }

  for (const source of sources) {
    const renames = claimComponents(merged.components, source.name, source.document.components ?? {});
    const rewrite = <T>(value: T): T => rewriteRefs(value, renames);

    for (const [section, entries] of Object.entries(source.document.components ?? {})) {
      if (!isRecord(entries)) continue;
      for (const [name, definition] of Object.entries(entries)) {
        const target = renames[section]?.[name] ?? name;
        (merged.components[section] ??= {})[target] ??= rewrite(definition);
      }
    }

    for (const [path, item] of Object.entries(source.document.paths ?? {})) {
      if (!isRecord(item)) continue;
      const route = source.keep(path);
      if (!route) continue;
      const copy = rewrite(structuredClone(item)) as PathItem;
      for (const method of METHODS) {
        const operation = copy[method] as Operation | undefined;
        if (!isRecord(operation)) continue;
        if (operation.security)
          operation.security = renameSchemes(operation.security, renames.securitySchemes ?? {});
        if (operation.operationId) {
          if (operationIds.has(operation.operationId))
            operation.operationId = `${source.name}_${operation.operationId}`;
          operationIds.add(operation.operationId);
        }
        if (route !== 'own') addGatewayBehaviour(operation, route);
      }
      merged.paths[path] = { ...merged.paths[path], ...copy };
    }

    for (const tag of source.document.tags ?? [])
      if (isRecord(tag) && typeof tag.name === 'string' && !merged.tags.some((t) => t.name === tag.name))
        merged.tags.push({ ...tag });
  }

  // Operation tags without a declaration of their own are listed too, in order of appearance, so the
  // docs group operations in a stable order (the gateway first, then the services in turn).
  for (const item of Object.values(merged.paths))
    for (const method of METHODS) {
      const operation = item[method] as Operation | undefined;
      for (const name of isRecord(operation) && Array.isArray(operation.tags) ? operation.tags : [])
        if (!merged.tags.some((t) => t.name === name)) merged.tags.push({ name });
    }

  const security = input.gateway.security;
  if (security) merged.security = security;
  const down = Object.entries(status)
    .filter(([, s]) => s === 'unavailable')
    .map(([name]) => name);
  if (down.length > 0)
    merged.info!.description = `${input.info.description}\n\nNot available right now (their operations are missing): ${down.join(', ')}.`;
  merged[SERVICES_EXTENSION] = status;
  if (merged.tags.length === 0) delete (merged as OpenApiDocument).tags;
  return merged;
}

/**
 * Decides the merged name of every component of one source: its own name when free or taken by an
 * identical definition, else `<source>_<name>` (with a counter in the unlikely case that is taken too).
 * "Identical" is judged after the source's own renames: a definition that reads the same but points
 * at a renamed component is a different definition, so this repeats until nothing changes.
 */
function claimComponents(
  existing: Record<string, Record<string, unknown>>,
  source: string,
  components: Record<string, unknown>,
): Record<string, Record<string, string>> {
  const renames: Record<string, Record<string, string>> = {};
  const used = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const [section, entries] of Object.entries(components)) {
      if (!isRecord(entries)) continue;
      const taken = existing[section] ?? {};
      for (const [name, definition] of Object.entries(entries)) {
        if (renames[section]?.[name] || !(name in taken)) continue;
        if (sameJson(taken[name], rewriteRefs(definition, renames))) continue;
        let candidate = `${source}_${name}`;
        for (
          let n = 2;
          candidate in taken || candidate in entries || used.has(`${section}/${candidate}`);
          n++
        )
          candidate = `${source}_${name}_${n}`;
        used.add(`${section}/${candidate}`);
        (renames[section] ??= {})[name] = candidate;
        changed = true;
      }
    }
  }
  return renames;
}

/** Follows component renames in every `$ref` of a value (deep copy of what changes). */
function rewriteRefs<T>(value: T, renames: Record<string, Record<string, string>>): T {
  if (Object.keys(renames).length === 0) return value;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!isRecord(node)) return node;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      if (key === '$ref' && typeof child === 'string') {
        const match = /^#\/components\/([^/]+)\/(.+)$/.exec(child);
        const renamed = match ? renames[match[1]!]?.[decodePointer(match[2]!)] : undefined;
        out[key] = renamed ? `#/components/${match![1]}/${encodePointer(renamed)}` : child;
      } else out[key] = walk(child);
    }
    return out;
  };
  return walk(value) as T;
}

function renameSchemes(
  security: SecurityRequirement[],
  renames: Record<string, string>,
): SecurityRequirement[] {
  return security.map((requirement) =>
    Object.fromEntries(Object.entries(requirement).map(([name, scopes]) => [renames[name] ?? name, scopes])),
  );
}

/** What the gateway adds in front of a service's operation. */
function addGatewayBehaviour(operation: Operation, route: ProxyRoute) {
  const responses = (operation.responses ??= {});
  if (route.limits.length > 0 && !('429' in responses))
    responses['429'] = {
      description:
        'Too many requests (a gateway rate limit). `Retry-After` and `RateLimit-*` headers tell when to retry.',
    };
  if (!('503' in responses))
    responses['503'] = { description: 'The service behind the gateway is not available right now.' };
  if (route.deprecation) operation.deprecated = true;
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value))
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const decodePointer = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');
const encodePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
