import { ConfigError } from '@offload/platform/config';
import { describe, expect, it } from 'vitest';
import { loadGatewayConfig, upstreamsOf } from './config.js';

describe('gateway config', () => {
  it('runs with no variables at all: default ports on one machine, JWKS from identity', () => {
    const config = loadGatewayConfig({});
    expect(config).toMatchObject({
      GATEWAY_PORT: 8080,
      HOST: '127.0.0.1',
      IDENTITY_URL: 'http://127.0.0.1:3001',
      AI_URL: 'http://127.0.0.1:3002',
      USAGE_URL: 'http://127.0.0.1:3003',
      TASKS_URL: 'http://127.0.0.1:3004',
      BILLING_URL: 'http://127.0.0.1:3005',
      VOICE_URL: 'http://127.0.0.1:3006',
      JWKS_URL: 'http://127.0.0.1:3001/v1/.well-known/jwks.json',
      PROXY_CONNECTIONS: 1024,
      UPSTREAM_TIMEOUT_MS: 90_000,
      UPSTREAM_IDLE_TIMEOUT_MS: 300_000,
      REQUEST_TIMEOUT_MS: 30_000,
      APP_ENV: 'development',
      LOG_LEVEL: 'info',
      NATS_URL: 'nats://127.0.0.1:4222',
      NATS_SUBJECT_PREFIX: '',
      TRUSTED_PROXIES: false,
      CORS_ORIGINS: [],
      RATE_LIMIT_WINDOW_MS: 60_000,
      RATE_LIMIT_PER_USER: 100,
      RATE_LIMIT_AI_PER_USER: 20,
      RATE_LIMIT_AUTH_PER_IP: 10,
      RATE_LIMIT_REDIS_PREFIX: 'offload:gateway:rate-limit:',
      RATE_LIMIT_MEMORY_KEYS: 100_000,
      BODY_LIMIT_DEFAULT: 256 * 1024,
      BODY_LIMITS: [
        ['/v1/ai', 16 * 1024],
        ['/v1/tasks', 64 * 1024],
      ],
      OPENAPI_REFRESH_MS: 60_000,
      OPENAPI_TIMEOUT_MS: 2_000,
    });
    expect(config.RATE_LIMIT_REDIS_URL).toBeUndefined();
    expect(upstreamsOf(config)).toEqual({
      identity: 'http://127.0.0.1:3001',
      ai: 'http://127.0.0.1:3002',
      usage: 'http://127.0.0.1:3003',
      tasks: 'http://127.0.0.1:3004',
      billing: 'http://127.0.0.1:3005',
      voice: 'http://127.0.0.1:3006',
    });
  });

  it('normalises service URLs to their origin and derives the JWKS URL from identity', () => {
    const config = loadGatewayConfig({
      IDENTITY_URL: 'http://identity.internal:9000/',
      TASKS_URL: 'https://tasks.internal',
      GATEWAY_PORT: '9090',
    });
    expect(config.IDENTITY_URL).toBe('http://identity.internal:9000');
    expect(config.TASKS_URL).toBe('https://tasks.internal');
    expect(config.JWKS_URL).toBe('http://identity.internal:9000/v1/.well-known/jwks.json');
    expect(config.GATEWAY_PORT).toBe(9090);
    expect(loadGatewayConfig({ JWKS_URL: 'https://keys.example/jwks.json' }).JWKS_URL).toBe(
      'https://keys.example/jwks.json',
    );
  });

  it('needs no database; NATS (for revocation events) has the local default', () => {
    expect(() => loadGatewayConfig({ DATABASE_URL: undefined, NATS_URL: undefined })).not.toThrow();
    expect(loadGatewayConfig({ NATS_URL: 'nats://nats:4222', NATS_SUBJECT_PREFIX: 't1' })).toMatchObject({
      NATS_URL: 'nats://nats:4222',
      NATS_SUBJECT_PREFIX: 't1',
    });
  });

  it('reads TRUSTED_PROXIES as addresses, CIDRs and named ranges, or none', () => {
    expect(loadGatewayConfig({ TRUSTED_PROXIES: 'none' }).TRUSTED_PROXIES).toBe(false);
    expect(
      loadGatewayConfig({ TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8, ::1, fd00::/8, loopback, uniquelocal' })
        .TRUSTED_PROXIES,
    ).toEqual(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback', 'uniquelocal']);
    for (const bad of ['10.0.0.0/33', 'proxy.internal', '1.2.3.4/8/9', '::1/129', ','])
      expect(() => loadGatewayConfig({ TRUSTED_PROXIES: bad }), bad).toThrow(ConfigError);
  });

  it('reads CORS_ORIGINS as exact origins only', () => {
    expect(
      loadGatewayConfig({ CORS_ORIGINS: 'https://app.offload.example, http://localhost:5173' }).CORS_ORIGINS,
    ).toEqual(['https://app.offload.example', 'http://localhost:5173']);
    for (const bad of ['*', 'app.offload.example', 'https://app.offload.example/', 'https://a.example/path'])
      expect(() => loadGatewayConfig({ CORS_ORIGINS: bad }), bad).toThrow(ConfigError);
  });

  it('accepts rate limits from 1 to 1e9 requests per window and a redis:// store', () => {
    const config = loadGatewayConfig({
      RATE_LIMIT_PER_USER: '1',
      RATE_LIMIT_AI_PER_USER: '1000000000',
      RATE_LIMIT_AUTH_PER_IP: '7',
      RATE_LIMIT_WINDOW_MS: '1000',
      RATE_LIMIT_REDIS_URL: 'redis://127.0.0.1:6379/2',
      RATE_LIMIT_REDIS_PREFIX: 'staging:rl:',
    });
    expect(config).toMatchObject({
      RATE_LIMIT_PER_USER: 1,
      RATE_LIMIT_AI_PER_USER: 1_000_000_000,
      RATE_LIMIT_AUTH_PER_IP: 7,
      RATE_LIMIT_WINDOW_MS: 1000,
      RATE_LIMIT_REDIS_URL: 'redis://127.0.0.1:6379/2',
      RATE_LIMIT_REDIS_PREFIX: 'staging:rl:',
    });
    expect(loadGatewayConfig({ RATE_LIMIT_REDIS_URL: 'rediss://cache:6380' }).RATE_LIMIT_REDIS_URL).toBe(
      'rediss://cache:6380',
    );
    for (const [key, bad] of [
      ['RATE_LIMIT_PER_USER', '0'],
      ['RATE_LIMIT_AI_PER_USER', '1000000001'],
      ['RATE_LIMIT_AUTH_PER_IP', '2.5'],
      ['RATE_LIMIT_REDIS_URL', 'http://cache:6379'],
      ['RATE_LIMIT_REDIS_PREFIX', 'has space'],
    ])
      expect(() => loadGatewayConfig({ [key!]: bad }), key).toThrow(ConfigError);
  });

  it('reads body caps per prefix and a default, and rejects caps that cover no route', () => {
    const config = loadGatewayConfig({
      BODY_LIMITS: '/v1/ai=8kb, /v1/notes=1mb',
      BODY_LIMIT_DEFAULT: '128kb',
    });
    expect(config.BODY_LIMITS).toEqual([
      ['/v1/ai', 8 * 1024],
      ['/v1/notes', 1024 * 1024],
    ]);
    expect(config.BODY_LIMIT_DEFAULT).toBe(128 * 1024);
    // Blank (not empty, which means unset): no caps per prefix, the default applies everywhere.
    expect(loadGatewayConfig({ BODY_LIMITS: ' ' }).BODY_LIMITS).toEqual([]);
    for (const [key, bad] of [
      ['BODY_LIMITS', '/v1/nowhere=1kb'],
      ['BODY_LIMITS', '/v1/ai:16kb'],
      ['BODY_LIMIT_DEFAULT', '0'],
      ['BODY_LIMIT_DEFAULT', 'lots'],
    ])
      expect(() => loadGatewayConfig({ [key!]: bad }), `${key}=${bad}`).toThrow(ConfigError);
  });

  it('accepts PROXY_CONNECTIONS from 1 to 65536 and nothing outside', () => {
    expect(loadGatewayConfig({ PROXY_CONNECTIONS: '1' }).PROXY_CONNECTIONS).toBe(1);
    expect(loadGatewayConfig({ PROXY_CONNECTIONS: '65536' }).PROXY_CONNECTIONS).toBe(65_536);
    expect(() => loadGatewayConfig({ PROXY_CONNECTIONS: '0' })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ PROXY_CONNECTIONS: '65537' })).toThrow(ConfigError);
  });

  it('lists every bad variable at once', () => {
    try {
      loadGatewayConfig({
        TASKS_URL: 'nats://tasks:4222',
        AI_URL: 'not a url',
        GATEWAY_PORT: '70000',
        UPSTREAM_TIMEOUT_MS: '0',
        JWKS_URL: 'ftp://keys',
      });
      expect.unreachable('config should have been rejected');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const keys = (error as ConfigError).problems.map((p) => p.split(':')[0]).sort();
      expect(keys).toEqual(['AI_URL', 'GATEWAY_PORT', 'JWKS_URL', 'TASKS_URL', 'UPSTREAM_TIMEOUT_MS']);
    }
  });
});
