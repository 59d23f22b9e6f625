import type { ErrorCode } from '@offload/contracts';

/**
 * Request headers a client must never be able to set on a request that reaches a service: anything
 * that looks like identity asserted by an internal hop (`x-user-id`, `x-internal-*`, ...), and the
 * forwarding headers the gateway writes itself. Services verify the token themselves (zero trust), so
 * these would not grant access today; stripping them keeps it that way when someone adds a shortcut.
 */
const INTERNAL_HEADER =
  /^x[-_](user|users|internal|auth|authenticated|session|tier|account|offload-user)([-_].*)?$/;
const FORWARDING_HEADER = /^(forwarded|x-forwarded-.*|x-real-ip)$/;

/**
 * Hop-by-hop headers (RFC 9110 7.6.1, plus the legacy `proxy-connection` and `keep-alive`): they
 * describe one connection, so a proxy never passes them on in either direction. Headers a message names
 * in its `Connection` header are hop-by-hop too (`connectionListed`).
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Response headers that only tell attackers what runs behind the gateway. */
export const REVEALING_RESPONSE_HEADERS: ReadonlySet<string> = new Set(['server', 'x-powered-by']);

export function isStrippedRequestHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return (
    INTERNAL_HEADER.test(lower) ||
    FORWARDING_HEADER.test(lower) ||
    HOP_BY_HOP_HEADERS.has(lower) ||
    // The gateway answers `Expect: 100-continue` itself (app.ts); the service gets the whole body.
    lower === 'expect'
  );
}

/** The header names a `Connection` header lists (`Connection: keep-alive, x-secret` -> both), lowercased. */
export function connectionListed(value: string | string[] | number | undefined): string[] {
  if (value === undefined || typeof value === 'number') return [];
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0);
}

/**
 * A service's response headers as the client receives them: without hop-by-hop headers (those the
 * service names in `Connection` included) and without `Server` / `X-Powered-By`. Mutates and returns
 * `headers`.
 */
export function cleanResponseHeaders<H extends Record<string, unknown>>(headers: H): H {
  const listed = connectionListed(headers.connection as string | string[] | undefined);
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || REVEALING_RESPONSE_HEADERS.has(lower) || listed.includes(lower))
      delete headers[name];
  }
  return headers;
}

/** W3C trace-context headers, passed on as they are when telemetry is off. */
export const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/**
 * What the gateway answers when talking to a service failed before a response arrived: an unreachable
 * service (refused, reset, unknown host) is 503 `service_unavailable`, a slow one 504 `gateway_timeout`,
 * anything else 502 `bad_gateway`. Codes are those of undici, Node and @fastify/reply-from.
 */
export function upstreamFailureCode(errorCodes: readonly (string | undefined)[]): ErrorCode {
  const codes = new Set(errorCodes.filter((c): c is string => typeof c === 'string'));
  const any = (...names: string[]) => names.some((n) => codes.has(n));
  if (
    any(
      'UND_ERR_HEADERS_TIMEOUT',
      'UND_ERR_BODY_TIMEOUT',
      'UND_ERR_CONNECT_TIMEOUT',
      'FST_REPLY_FROM_GATEWAY_TIMEOUT',
      'FST_REPLY_FROM_TIMEOUT',
      'ETIMEDOUT',
    )
  )
    return 'gateway_timeout';
  if (
    any(
      'ECONNREFUSED',
      'ECONNRESET',
      'ENOTFOUND',
      'EAI_AGAIN',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'EPIPE',
      'UND_ERR_SOCKET',
      'UND_ERR_CLOSED',
      'UND_ERR_DESTROYED',
      'FST_REPLY_FROM_SERVICE_UNAVAILABLE',
    )
  )
    return 'service_unavailable';
  return 'bad_gateway';
}
