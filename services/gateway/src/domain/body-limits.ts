import { isUnder, type ProxyRoute } from './routes.js';

/**
 * Body size caps per route prefix (DESIGN 6): the longest configured prefix that covers a route's prefix
 * decides, else the default. Resolved per route-table row, never per request path, so no spelling of a
 * URL (encoded characters, dot segments) can pick a looser cap than the row that serves it.
 */
export interface BodyLimits {
  /** Bytes for every prefix without its own entry. */
  defaultBytes: number;
  /** `[prefix, bytes]`, e.g. `['/v1/ai', 16384]`. */
  byPrefix: ReadonlyArray<readonly [prefix: string, bytes: number]>;
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 * 1024 };

/** `16kb`, `64KB`, `1mb`, `262144` -> bytes (binary units); undefined when it is not a size. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d{1,10})\s*(b|kb|mb)?\s*$/i.exec(text);
  if (!match) return undefined;
  const bytes = Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]!;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * Parses `"/v1/ai=16kb, /v1/tasks=64kb"`. Returns the entries or one message per bad entry; a prefix
 * must cover at least one route of the table (a cap nobody gets would be a silent typo).
 */
export function parseBodyLimits(
  text: string,
  routes: readonly ProxyRoute[],
): { entries: Array<[string, number]>; problems: string[] } {
  const entries: Array<[string, number]> = [];
  const problems: string[] = [];
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [prefix = '', size = '', ...rest] = item.split('=').map((s) => s.trim());
    const bytes = parseByteSize(size);
    if (rest.length > 0 || !/^\/v1(\/[A-Za-z0-9._~-]+)*$/.test(prefix) || bytes === undefined || bytes < 1)
      problems.push(`"${item}" is not <prefix>=<size>, e.g. /v1/ai=16kb`);
    else if (!routes.some((route) => isUnder(route.prefix, prefix)))
      problems.push(`"${prefix}" covers no route prefix`);
    else if (entries.some(([p]) => p === prefix)) problems.push(`"${prefix}" is listed twice`);
    else entries.push([prefix, bytes]);
  }
  return { entries, problems };
}

/** The cap of one route-table row. */
export function bodyLimitFor(limits: BodyLimits, route: Pick<ProxyRoute, 'prefix'>): number {
  let best: readonly [string, number] | undefined;
  for (const entry of limits.byPrefix)
    if (isUnder(route.prefix, entry[0]) && (!best || entry[0].length > best[0].length)) best = entry;
  return best ? best[1] : limits.defaultBytes;
}
