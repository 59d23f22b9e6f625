import { describe, expect, it } from 'vitest';
import { hasCloudConsent } from './consent.js';

describe('cloud consent header', () => {
  it.each(['true', 'TRUE', 'True', ' true '])('accepts %j', (value) => {
    expect(hasCloudConsent(value)).toBe(true);
  });
  it.each([undefined, '', 'false', '1', 'yes', 'true, true', 'truee', ['true']])('refuses %j', (value) => {
    expect(hasCloudConsent(value as string | string[] | undefined)).toBe(false);
  });
});
