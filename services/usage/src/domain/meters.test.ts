import { UsageMeter } from '@offload/contracts';
import { describe, expect, it } from 'vitest';
import { decodeMeterCursor, encodeMeterCursor, toUsageMeter } from './meters.js';

describe('toUsageMeter', () => {
  it('shows the total, the quota and what is left, in the contract’s shape', () => {
    const view = toUsageMeter({ feature: 'ai_breakdown', period: '2026-03', deviceCount: 2, total: 30 }, 100);
    expect(view).toEqual({
      feature: 'ai_breakdown',
      period: '2026-03',
      device_count: 2,
      server_count: 30,
      quota: 100,
      effective_remaining: 70,
    });
    expect(UsageMeter.strict().parse(view)).toEqual(view);
  });

  it('never shows less than zero remaining', () => {
    expect(
      toUsageMeter({ feature: 'f', period: '2026-03', deviceCount: 1, total: 130 }, 100).effective_remaining,
    ).toBe(0);
  });
});

describe('meter cursors', () => {
  it('round-trip, features with colons included', () => {
    for (const cursor of [
      { period: '2026-03', feature: 'ai_breakdown' },
      { period: '1999-12', feature: 'a:b:c' },
      { period: '2026-01', feature: 'x'.repeat(64) },
    ])
      expect(decodeMeterCursor(encodeMeterCursor(cursor))).toEqual(cursor);
  });

  it('refuse anything that is not one of ours', () => {
    const enc = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
    expect(decodeMeterCursor('garbage')).toBeNull();
    expect(decodeMeterCursor(enc('v2:2026-03:ai'))).toBeNull();
    expect(decodeMeterCursor(enc('v1:2026-13:ai'))).toBeNull();
    expect(decodeMeterCursor(enc('v1:2026-03-ai'))).toBeNull();
    expect(decodeMeterCursor(enc('v1:2026-03:'))).toBeNull();
    expect(decodeMeterCursor(enc(`v1:2026-03:${'x'.repeat(65)}`))).toBeNull();
  });
});
