import { describe, expect, it } from 'vitest';
import {
  cleanResponseHeaders,
  connectionListed,
  isStrippedRequestHeader,
  upstreamFailureCode,
} from './forwarding.js';

describe('isStrippedRequestHeader', () => {
  it('strips headers that could pose as internal identity or forwarding data', () => {
    for (const name of [
      'x-user-id',
      'X-User-Id',
      'x-user',
      'x_user_id',
      'x-users-id',
      'x-internal',
      'x-internal-caller',
      'x-auth-user',
      'x-authenticated-user',
      'x-session-id',
      'x-tier',
      'x-account-id',
      'x-offload-user-id',
      'forwarded',
      'x-forwarded-for',
      'x-forwarded-host',
      'x-real-ip',
      'connection',
      'keep-alive',
      'proxy-authorization',
      'proxy-connection',
      'te',
      'trailer',
      'transfer-encoding',
      'Upgrade',
      'Expect',
    ])
      expect(isStrippedRequestHeader(name), name).toBe(true);
  });

  it('keeps ordinary headers', () => {
    for (const name of [
      'authorization',
      'content-type',
      'x-request-id',
      'traceparent',
      'idempotency-key',
      'x-offload-cloud-opt-in',
      'x-userland',
      'x-client-version',
      'user-agent',
    ])
      expect(isStrippedRequestHeader(name), name).toBe(false);
  });
});

describe('upstreamFailureCode', () => {
  it('maps an unreachable service to service_unavailable', () => {
    expect(upstreamFailureCode(['FST_REPLY_FROM_INTERNAL_SERVER_ERROR', 'ECONNREFUSED'])).toBe(
      'service_unavailable',
    );
    expect(upstreamFailureCode(['ECONNRESET'])).toBe('service_unavailable');
    expect(upstreamFailureCode(['FST_REPLY_FROM_SERVICE_UNAVAILABLE', 'ENOTFOUND'])).toBe(
      'service_unavailable',
    );
    expect(upstreamFailureCode([undefined, 'UND_ERR_SOCKET'])).toBe('service_unavailable');
  });

  it('maps timeouts to gateway_timeout', () => {
    expect(upstreamFailureCode(['FST_REPLY_FROM_GATEWAY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT'])).toBe(
      'gateway_timeout',
    );
    expect(upstreamFailureCode(['UND_ERR_CONNECT_TIMEOUT'])).toBe('gateway_timeout');
  });

  it('maps anything else to bad_gateway', () => {
    expect(upstreamFailureCode(['FST_REPLY_FROM_BAD_GATEWAY'])).toBe('bad_gateway');
    expect(upstreamFailureCode([])).toBe('bad_gateway');
  });
});

describe('response header hygiene', () => {
  it('reads the header names a Connection header lists', () => {
    expect(connectionListed('keep-alive, X-Secret ,,close')).toEqual(['keep-alive', 'x-secret', 'close']);
    expect(connectionListed(['a', 'b'])).toEqual(['a', 'b']);
    expect(connectionListed(undefined)).toEqual([]);
  });

  it('drops hop-by-hop, Connection-listed and revealing headers, keeps the rest', () => {
    const headers = cleanResponseHeaders({
      connection: 'keep-alive, x-upstream-hop',
      'keep-alive': 'timeout=5',
      'x-upstream-hop': '1',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      upgrade: 'h2c',
      trailer: 'expires',
      Server: 'nginx',
      'x-powered-by': 'Express',
      'content-type': 'application/json',
      'retry-after': '7',
      'x-request-id': 'abc',
    });
    expect(headers).toEqual({
      'content-type': 'application/json',
      'retry-after': '7',
      'x-request-id': 'abc',
    });
  });
});
