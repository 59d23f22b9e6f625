import { describe, expect, it } from 'vitest';
import { loadAiConfig, trustedProxies } from './config.js';

const base = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/offload' };

describe('ai config', () => {
  it('defaults to port 3002 and fails fast without DATABASE_URL', () => {
    expect(loadAiConfig(base).PORT).toBe(3002);
    expect(() => loadAiConfig({})).toThrow(/DATABASE_URL/);
  });

  it('has no provider key by default, and the documented defaults for the rest', () => {
    const config = loadAiConfig(base);
    expect(config.OPENAI_API_KEY).toBeUndefined();
    expect(config.OPENAI_BASE_URL).toBeUndefined();
    expect(config).toMatchObject({
      OPENAI_MODEL: 'gpt-4o-mini',
      OPENAI_ATTEMPT_TIMEOUT_MS: 20_000,
      AI_MAX_INPUT_CHARS: 4_000,
      AI_INFERENCE_LIMIT_PER_INSTALL: 20,
      AI_INFERENCE_LIMIT_PER_IP: 120,
      AI_INFERENCE_WINDOW_MS: 60_000,
      AI_TRUSTED_PROXIES: 'loopback',
      USAGE_RPC_TIMEOUT_MS: 3_000,
    });
    // An empty value counts as unset (FOO= in a shell).
    expect(loadAiConfig({ ...base, OPENAI_API_KEY: '' }).OPENAI_API_KEY).toBeUndefined();
  });

  it('reads the provider settings and limits from the environment', () => {
    const config = loadAiConfig({
      ...base,
      OPENAI_API_KEY: 'sk-1',
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      OPENAI_MODEL: 'llama3',
      OPENAI_ATTEMPT_TIMEOUT_MS: '100',
      AI_MAX_INPUT_CHARS: '8000',
    });
    expect(config).toMatchObject({
      OPENAI_API_KEY: 'sk-1',
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      OPENAI_MODEL: 'llama3',
      OPENAI_ATTEMPT_TIMEOUT_MS: 100,
      AI_MAX_INPUT_CHARS: 8_000,
    });
  });

  it.each([
    ['OPENAI_BASE_URL', 'ftp://example.com'],
    ['OPENAI_BASE_URL', 'not a url'],
    ['OPENAI_ATTEMPT_TIMEOUT_MS', '99'],
    ['OPENAI_ATTEMPT_TIMEOUT_MS', 'soon'],
    ['AI_MAX_INPUT_CHARS', '0'],
    ['AI_INFERENCE_LIMIT_PER_INSTALL', '0'],
  ])('refuses %s=%s', (key, value) => {
    expect(() => loadAiConfig({ ...base, [key]: value })).toThrow(new RegExp(key));
  });

  it('splits the trusted proxies list', () => {
    expect(trustedProxies({ AI_TRUSTED_PROXIES: 'loopback, 10.0.0.0/8 ,' })).toEqual([
      'loopback',
      '10.0.0.0/8',
    ]);
  });
});
