/**
 * The gateway's route table (DESIGN 2, 6): which service answers each public path prefix, what the
 * gateway checks before forwarding, and whether the prefix is deprecated. Data, not code: the app
 * registers one proxy per row, and every check belongs to that registration (no global URL-prefix checks).
 */

export const SERVICES = ['identity', 'ai', 'usage', 'tasks', 'billing', 'voice'] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * `bearer`: the gateway verifies the access token before proxying (services verify again).
 * `public`: no token needed at the gateway (sign-in, token refresh, JWKS, erasure status, signed
 * provider webhooks).
 */
export type Access = 'bearer' | 'public';

/**
 * The gateway's rate limits (DESIGN 6): `user` 100/min per user on every protected prefix, `ai` 20/min
 * per user on `/v1/ai/*` (on top of `user`), `ip` 10/min per client IP on sign-in and sessions.
 */
export type RateLimitName = 'user' | 'ai' | 'ip';

/** RFC 9745 `Deprecation` and RFC 8594 `Sunset`, sent on every response of the prefix. */
export interface Deprecation {
  /** When the prefix was deprecated (ISO-8601 UTC). */
  since: string;
  /** When it stops working (ISO-8601 UTC): at least `MIN_SUNSET_NOTICE_DAYS` after `since` (DESIGN 4). */
  sunset: string;
  /** Where clients read what to use instead (`Link: <...>; rel="deprecation"`). */
  link?: string;
}

export interface ProxyRoute {
  /** Path prefix; the route matches the prefix itself and everything below it. */
  prefix: `/v1/${string}`;
  service: ServiceName;
  access: Access;
  /** Limits checked in this order before forwarding; `user` and `ai` need `access: 'bearer'`. */
  limits: readonly RateLimitName[];
  /**
   * Cloud AI runs only with explicit consent on every call: without `X-Offload-Cloud-Opt-In: true` the
   * gateway answers 403 `consent_required` before reading or forwarding the body (DESIGN 6, 7).
   */
  consent?: boolean;
  /**
   * WebSocket upgrades are proxied. They authenticate in-band with their first message (DESIGN 11), so
   * the bearer check and the rate limits apply to the plain HTTP requests of such a prefix only: tokens
   * never travel in a URL or an upgrade header, and an upgrade is never counted.
   */
  websocket?: boolean;
  deprecation?: Deprecation;
}

export const PROXY_ROUTES: readonly ProxyRoute[] = [
  { prefix: '/v1/sessions', service: 'identity', access: 'public', limits: ['ip'] },
  { prefix: '/v1/auth', service: 'identity', access: 'public', limits: ['ip'] },
  { prefix: '/v1/users', service: 'identity', access: 'bearer', limits: ['user'] },
  // Polled after `DELETE /v1/users/me`, when the user's tokens are already revoked; the erasure id is
  // an unguessable UUIDv7 and the answer holds no personal data.
  { prefix: '/v1/users/erasures', service: 'identity', access: 'public', limits: [] },
  { prefix: '/v1/.well-known', service: 'identity', access: 'public', limits: [] },
  { prefix: '/v1/ai', service: 'ai', access: 'bearer', limits: ['user', 'ai'], consent: true },
  { prefix: '/v1/usage', service: 'usage', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/credits', service: 'usage', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/tasks', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/subtasks', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/notes', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/reminders', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/recurring-templates', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/breakdown-templates', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/tombstones', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/focus', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/achievements', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/notifications', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/activity', service: 'tasks', access: 'bearer', limits: ['user'] },
  { prefix: '/v1/subscription', service: 'billing', access: 'bearer', limits: ['user'] },
  // Checkout.com signs its webhooks; billing verifies them. Its senders share few addresses, so no
  // per-IP limit here.
  { prefix: '/v1/webhooks', service: 'billing', access: 'public', limits: [] },
  { prefix: '/v1/voice', service: 'voice', access: 'bearer', limits: ['user'], websocket: true },
];

/** DESIGN 4: deprecated routes announce their sunset at least 90 days ahead. */
export const MIN_SUNSET_NOTICE_DAYS = 90;

const DAY_MS = 86_400_000;
const PREFIX = /^\/v1(\/[A-Za-z0-9._~-]+)+$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z)?$/;

/** True when `path` is `prefix` itself or below it (segment-wise: `/v1/tasksx` is not under `/v1/tasks`). */
export function isUnder(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** The row that serves `path` (the longest matching prefix, as the router picks it), if any. */
export function routeForPath(routes: readonly ProxyRoute[], path: string): ProxyRoute | undefined {
  let best: ProxyRoute | undefined;
  for (const route of routes)
    if (isUnder(path, route.prefix) && (!best || route.prefix.length > best.prefix.length)) best = route;
  return best;
}

/**
 * Everything wrong with a route table, one line each (empty when it is sound). The gateway refuses to
 * start with a broken table rather than serve a deprecated route without a proper sunset.
 */
export function routeTableProblems(routes: readonly ProxyRoute[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const route of routes) {
    const at = route.prefix;
    if (!PREFIX.test(route.prefix)) problems.push(`${at}: a prefix is /v1/ and plain path segments`);
    if (seen.has(route.prefix)) problems.push(`${at}: listed twice`);
    seen.add(route.prefix);
    if (new Set(route.limits).size !== route.limits.length) problems.push(`${at}: a limit is listed twice`);
    if (route.access === 'public' && route.limits.some((l) => l !== 'ip'))
      problems.push(`${at}: per-user limits need a bearer token`);
    if (route.deprecation) problems.push(...deprecationProblems(route.deprecation).map((p) => `${at}: ${p}`));
  }
  return problems;
}

export function deprecationProblems(deprecation: Deprecation): string[] {
  const problems: string[] = [];
  const since = parseUtc(deprecation.since);
  const sunset = parseUtc(deprecation.sunset);
  if (since === undefined) problems.push('deprecation.since is not an ISO-8601 UTC date');
  if (sunset === undefined) problems.push('deprecation.sunset is not an ISO-8601 UTC date');
  if (since !== undefined && sunset !== undefined && sunset - since < MIN_SUNSET_NOTICE_DAYS * DAY_MS)
    problems.push(`the sunset must be at least ${MIN_SUNSET_NOTICE_DAYS} days after the deprecation`);
  if (deprecation.link !== undefined && !/^https:\/\/[^\s<>"]+$/.test(deprecation.link))
    problems.push('deprecation.link must be an https URL');
  return problems;
}

/**
 * The response headers of a deprecated prefix: `Deprecation: @<epoch seconds>` (RFC 9745, a
 * structured-field date), `Sunset: <HTTP-date>` (RFC 8594) and, with a link, `Link: <...>;
 * rel="deprecation"`.
 */
export function deprecationHeaders(deprecation: Deprecation): Record<string, string> {
  const headers: Record<string, string> = {
    deprecation: `@${Math.floor(parseUtc(deprecation.since)! / 1000)}`,
    sunset: new Date(parseUtc(deprecation.sunset)!).toUTCString(),
  };
  if (deprecation.link) headers.link = `<${deprecation.link}>; rel="deprecation"; type="text/html"`;
  return headers;
}

function parseUtc(value: string): number | undefined {
  if (!ISO_UTC.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
