import { describe, expect, it } from 'vitest';
import { hasCloudConsent } from './consent.js';

describe('cloud consent', () => {
  it('is "true" in any case, trimmed; nothing else', () => {
    for (const yes of ['true', 'TRUE', 'True', ' true ']) expect(hasCloudConsent(yes), yes).toBe(true);
    for (const no of [undefined, '', 'false', '1', 'yes', 'true,true', ['true', 'true']])
      expect(hasCloudConsent(no), String(no)).toBe(false);
  });
});
