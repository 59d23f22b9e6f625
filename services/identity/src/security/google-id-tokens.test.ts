import { describe, expect, it } from 'vitest';
import { maxAgeOf } from './google-id-tokens.js';

describe('maxAgeOf', () => {
  it.each([
    ['public, max-age=19557, must-revalidate, no-transform', 19557],
    ['max-age="60"', 60],
    ['no-store', 0],
    ['private, no-cache', 0],
    ['public', undefined],
    [null, undefined],
  ])('%s -> %s', (header, expected) => {
    expect(maxAgeOf(header)).toBe(expected);
  });
});
