import { ConfigError } from '@offload/platform/config';
import { describe, expect, it } from 'vitest';
import { loadUsageConfig } from './config.js';

const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/offload';

describe('usage config', () => {
  it('defaults to port 3003 and a 30 s consumer ack wait', () => {
    expect(loadUsageConfig({ DATABASE_URL })).toMatchObject({ PORT: 3003, CONSUMER_ACK_WAIT_MS: 30_000 });
  });

  it('takes CONSUMER_ACK_WAIT_MS from 500 to 300000 ms and refuses values just outside', () => {
    expect(loadUsageConfig({ DATABASE_URL, CONSUMER_ACK_WAIT_MS: '500' }).CONSUMER_ACK_WAIT_MS).toBe(500);
    expect(loadUsageConfig({ DATABASE_URL, CONSUMER_ACK_WAIT_MS: '300000' }).CONSUMER_ACK_WAIT_MS).toBe(
      300_000,
    );
    expect(() => loadUsageConfig({ DATABASE_URL, CONSUMER_ACK_WAIT_MS: '499' })).toThrow(ConfigError);
    expect(() => loadUsageConfig({ DATABASE_URL, CONSUMER_ACK_WAIT_MS: '300001' })).toThrow(ConfigError);
  });

  it('fails fast without DATABASE_URL, naming it', () => {
    expect(() => loadUsageConfig({})).toThrow(/DATABASE_URL/);
  });
});

describe('usage quotas and reservation housekeeping', () => {
  it('default to 100 free and 1000 pro AI actions a month, a 30 s sweep and 7 days of retention', () => {
    expect(loadUsageConfig({ DATABASE_URL })).toMatchObject({
      FREE_MONTHLY_AI_ACTIONS: 100,
      PRO_MONTHLY_AI_ACTIONS: 1000,
      RESERVATION_SWEEP_MS: 30_000,
      RESERVATION_RETENTION_DAYS: 7,
    });
  });

  it('take quotas from 0 to 1000000 and refuse values just outside', () => {
    for (const key of ['FREE_MONTHLY_AI_ACTIONS', 'PRO_MONTHLY_AI_ACTIONS']) {
      expect(loadUsageConfig({ DATABASE_URL, [key]: '0' })).toMatchObject({ [key]: 0 });
      expect(loadUsageConfig({ DATABASE_URL, [key]: '1000000' })).toMatchObject({ [key]: 1_000_000 });
      expect(() => loadUsageConfig({ DATABASE_URL, [key]: '-1' })).toThrow(ConfigError);
      expect(() => loadUsageConfig({ DATABASE_URL, [key]: '1000001' })).toThrow(ConfigError);
      expect(() => loadUsageConfig({ DATABASE_URL, [key]: '1.5' })).toThrow(ConfigError);
    }
  });

  it('take the sweep interval from 100 ms to 1 h and retention from 1 to 90 days', () => {
    expect(loadUsageConfig({ DATABASE_URL, RESERVATION_SWEEP_MS: '100' }).RESERVATION_SWEEP_MS).toBe(100);
    expect(() => loadUsageConfig({ DATABASE_URL, RESERVATION_SWEEP_MS: '99' })).toThrow(ConfigError);
    expect(() => loadUsageConfig({ DATABASE_URL, RESERVATION_SWEEP_MS: '3600001' })).toThrow(ConfigError);
    expect(
      loadUsageConfig({ DATABASE_URL, RESERVATION_RETENTION_DAYS: '90' }).RESERVATION_RETENTION_DAYS,
    ).toBe(90);
    expect(() => loadUsageConfig({ DATABASE_URL, RESERVATION_RETENTION_DAYS: '0' })).toThrow(ConfigError);
    expect(() => loadUsageConfig({ DATABASE_URL, RESERVATION_RETENTION_DAYS: '91' })).toThrow(ConfigError);
  });
});
