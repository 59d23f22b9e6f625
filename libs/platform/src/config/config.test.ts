import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseServiceEnv, ConfigError, env, loadConfig } from './index.js';

const schema = baseServiceEnv.extend({ PORT: env.port(3000), FEATURE: env.bool(false) });

describe('loadConfig', () => {
  it('applies defaults and coerces', () => {
    const config = loadConfig('svc', schema, {
      DATABASE_URL: 'postgres://u@h:5432/db',
      PORT: '8081',
      FEATURE: 'true',
    });
    expect(config).toMatchObject({
      PORT: 8081,
      FEATURE: true,
      NATS_URL: 'nats://127.0.0.1:4222',
      LOG_LEVEL: 'info',
    });
  });

  it('lists every bad variable at once, and never a secret default', () => {
    let error: unknown;
    try {
      loadConfig('svc', schema, { PORT: '70000', LOG_LEVEL: 'loud', NATS_URL: 'http://x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('DATABASE_URL');
    expect(problems).toContain('PORT');
    expect(problems).toContain('LOG_LEVEL');
    expect(problems).toContain('NATS_URL');
    expect((error as Error).message).toMatch(/^invalid configuration for svc:/);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig('svc', schema, { DATABASE_URL: 'postgres://u@h/db', PORT: '' });
    expect(config.PORT).toBe(3000);
  });

  it('rejects a subject prefix that could escape its namespace', () => {
    expect(() => loadConfig('svc', z.object({ P: env.subjectPrefix() }), { P: 'a.>' })).toThrow(ConfigError);
    expect(loadConfig('svc', z.object({ P: env.subjectPrefix() }), { P: 't_1-a' }).P).toBe('t_1-a');
  });
});
