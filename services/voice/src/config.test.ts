import { describe, expect, it } from 'vitest';
import { loadVoiceConfig } from './config.js';

describe('voice config', () => {
  it('defaults to port 3006 and fails fast without DATABASE_URL', () => {
    expect(loadVoiceConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/offload' }).PORT).toBe(3006);
    expect(() => loadVoiceConfig({})).toThrow(/DATABASE_URL/);
  });
});
