import { describe, expect, it } from 'vitest';
import { bodyLimitFor, parseBodyLimits, parseByteSize } from './body-limits.js';
import { PROXY_ROUTES } from './routes.js';

describe('body limits', () => {
  it('reads sizes in bytes, kb and mb (binary units)', () => {
    expect(parseByteSize('262144')).toBe(262_144);
    expect(parseByteSize('16kb')).toBe(16_384);
    expect(parseByteSize(' 64KB ')).toBe(65_536);
    expect(parseByteSize('1mb')).toBe(1_048_576);
    expect(parseByteSize('12b')).toBe(12);
    for (const bad of ['', 'kb', '1.5kb', '-1', '10gb', '1 k b'])
      expect(parseByteSize(bad), bad).toBeUndefined();
  });

  it('parses prefix=size lists and rejects entries that cover no route', () => {
    expect(parseBodyLimits('/v1/ai=16kb, /v1/tasks=64kb', PROXY_ROUTES)).toEqual({
      entries: [
        ['/v1/ai', 16_384],
        ['/v1/tasks', 65_536],
      ],
      problems: [],
    });
    expect(parseBodyLimits('/v1=1mb', PROXY_ROUTES).problems).toEqual([]);
    expect(
      parseBodyLimits('/v1/nothing=1kb,ai=2kb,/v1/ai=0,/v1/ai=1kb,/v1/ai=2kb', PROXY_ROUTES).problems,
    ).toEqual([
      '"/v1/nothing" covers no route prefix',
      '"ai=2kb" is not <prefix>=<size>, e.g. /v1/ai=16kb',
      '"/v1/ai=0" is not <prefix>=<size>, e.g. /v1/ai=16kb',
      '"/v1/ai" is listed twice',
    ]);
  });

  it('gives each route the cap of its longest covering prefix, else the default', () => {
    const limits = {
      defaultBytes: 262_144,
      byPrefix: [
        ['/v1', 131_072],
        ['/v1/users', 4_096],
        ['/v1/ai', 16_384],
      ] as const,
    };
    expect(bodyLimitFor(limits, { prefix: '/v1/ai' })).toBe(16_384);
    expect(bodyLimitFor(limits, { prefix: '/v1/users/erasures' })).toBe(4_096);
    expect(bodyLimitFor(limits, { prefix: '/v1/tasks' })).toBe(131_072);
    expect(bodyLimitFor({ defaultBytes: 1_000, byPrefix: [['/v1/ai', 16]] }, { prefix: '/v1/aix' })).toBe(
      1_000,
    );
  });
});
