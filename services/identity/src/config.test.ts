import { ConfigError } from '@offload/platform/config';
import { describe, expect, it } from 'vitest';
import { loadIdentityConfig } from './config.js';

const base = { DATABASE_URL: 'postgres://localhost:5432/offload' };

describe('identity config', () => {
  it('defaults to port 3001, 15-minute access tokens, 7 idle and 30 absolute days', () => {
    expect(loadIdentityConfig(base)).toMatchObject({
      PORT: 3001,
      ACCESS_TOKEN_TTL_SECONDS: 900,
      REFRESH_IDLE_DAYS: 7,
      REFRESH_ABSOLUTE_DAYS: 30,
    });
  });

  it('bounds the access-token lifetime to 60..3600 seconds', () => {
    expect(loadIdentityConfig({ ...base, ACCESS_TOKEN_TTL_SECONDS: '60' }).ACCESS_TOKEN_TTL_SECONDS).toBe(60);
    expect(loadIdentityConfig({ ...base, ACCESS_TOKEN_TTL_SECONDS: '3600' }).ACCESS_TOKEN_TTL_SECONDS).toBe(
      3600,
    );
    expect(() => loadIdentityConfig({ ...base, ACCESS_TOKEN_TTL_SECONDS: '59' })).toThrow(ConfigError);
    expect(() => loadIdentityConfig({ ...base, ACCESS_TOKEN_TTL_SECONDS: '3601' })).toThrow(ConfigError);
  });

  it('refuses an idle lifetime longer than the absolute one, and lists every problem at once', () => {
    expect(
      loadIdentityConfig({ ...base, REFRESH_IDLE_DAYS: '30', REFRESH_ABSOLUTE_DAYS: '30' }).REFRESH_IDLE_DAYS,
    ).toBe(30);
    expect(() =>
      loadIdentityConfig({ ...base, REFRESH_IDLE_DAYS: '31', REFRESH_ABSOLUTE_DAYS: '30' }),
    ).toThrow(/REFRESH_IDLE_DAYS/);
    try {
      loadIdentityConfig({ PORT: 'x', ACCESS_TOKEN_TTL_SECONDS: '0' });
      expect.unreachable();
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toMatch(/DATABASE_URL/);
      expect(problems).toMatch(/PORT/);
      expect(problems).toMatch(/ACCESS_TOKEN_TTL_SECONDS/);
    }
  });

  it('defaults the issue 3 settings: 10 s refresh grace, Google keys from Google, limits 8 and 4 a minute', () => {
    expect(loadIdentityConfig(base)).toMatchObject({
      REFRESH_GRACE_SECONDS: 10,
      GOOGLE_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs',
      GOOGLE_CLIENT_IDS: [],
      KEY_ACTIVATION_DELAY_SECONDS: 600,
      SESSION_RATE_LIMIT_PER_IP: 8,
      SESSION_RATE_LIMIT_PER_INSTALL_ID: 4,
      SESSION_RATE_LIMIT_WINDOW_SECONDS: 60,
      ERASURE_SERVICES: ['identity', 'usage', 'tasks', 'ai', 'billing', 'voice'],
      ERASURE_WAIT_SECONDS: 10,
      TRUSTED_PROXIES: ['loopback'],
    });
  });

  it('reads comma lists: Google client ids, trusted proxies, erasure services (identity always included)', () => {
    const config = loadIdentityConfig({
      ...base,
      GOOGLE_CLIENT_IDS: ' a.apps.googleusercontent.com , b.apps.googleusercontent.com,',
      TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1',
      ERASURE_SERVICES: 'usage,tasks,usage',
    });
    expect(config.GOOGLE_CLIENT_IDS).toEqual([
      'a.apps.googleusercontent.com',
      'b.apps.googleusercontent.com',
    ]);
    expect(config.TRUSTED_PROXIES).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(config.ERASURE_SERVICES).toEqual(['identity', 'usage', 'tasks']);
    expect(loadIdentityConfig({ ...base, TRUSTED_PROXIES: 'none' }).TRUSTED_PROXIES).toBe(false);
    expect(() => loadIdentityConfig({ ...base, ERASURE_SERVICES: 'usage,payments' })).toThrow(
      /ERASURE_SERVICES/,
    );
  });

  it('bounds the refresh grace window to 0..120 seconds', () => {
    expect(loadIdentityConfig({ ...base, REFRESH_GRACE_SECONDS: '0' }).REFRESH_GRACE_SECONDS).toBe(0);
    expect(loadIdentityConfig({ ...base, REFRESH_GRACE_SECONDS: '120' }).REFRESH_GRACE_SECONDS).toBe(120);
    expect(() => loadIdentityConfig({ ...base, REFRESH_GRACE_SECONDS: '121' })).toThrow(ConfigError);
    expect(() => loadIdentityConfig({ ...base, REFRESH_GRACE_SECONDS: '-1' })).toThrow(ConfigError);
  });
});
