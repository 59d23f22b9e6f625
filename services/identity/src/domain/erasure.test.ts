import { Erasure } from '@offload/contracts';
import { describe, expect, it } from 'vitest';
import { isErasureComplete, toErasureStatus } from './erasure.js';

describe('erasure status', () => {
  const erasure = {
    id: '6f1c1a9e-3b7e-4d3a-9d44-3f1b2d6c7a10',
    requestedAt: new Date('2026-01-01T00:00:00.000Z'),
    completedAt: null,
    expectedServices: ['identity', 'usage', 'tasks'],
  };
  const confirmation = (service: string) => ({
    service,
    purgedAt: new Date('2026-01-01T00:00:01.000Z'),
    erased: { rows: 2 },
  });

  it('is complete only when every expected service confirmed', () => {
    expect(isErasureComplete(erasure.expectedServices, ['identity', 'usage'])).toBe(false);
    expect(isErasureComplete(erasure.expectedServices, ['tasks', 'identity', 'usage', 'voice'])).toBe(true);
  });

  it('lists every expected service with what it erased, pending ones included', () => {
    const status = toErasureStatus(erasure, [confirmation('usage'), confirmation('voice')]);
    expect(Erasure.parse(status)).toEqual(status);
    expect(status).toEqual({
      erasure_id: erasure.id,
      status: 'pending',
      requested_at: '2026-01-01T00:00:00.000Z',
      completed_at: null,
      services: [
        { service: 'identity', status: 'pending', purged_at: null, erased: null },
        { service: 'usage', status: 'purged', purged_at: '2026-01-01T00:00:01.000Z', erased: { rows: 2 } },
        { service: 'tasks', status: 'pending', purged_at: null, erased: null },
      ],
    });
    const done = toErasureStatus({ ...erasure, completedAt: new Date('2026-01-01T00:00:02.000Z') }, []);
    expect(done).toMatchObject({ status: 'completed', completed_at: '2026-01-01T00:00:02.000Z' });
  });
});
