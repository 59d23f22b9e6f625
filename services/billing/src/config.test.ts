import { describe, expect, it } from 'vitest';
import { loadBillingConfig } from './config.js';

describe('billing config', () => {
  it('defaults to port 3005 and fails fast without DATABASE_URL', () => {
    expect(loadBillingConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/offload' }).PORT).toBe(3005);
    expect(() => loadBillingConfig({})).toThrow(/DATABASE_URL/);
  });
});
