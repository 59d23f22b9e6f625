import { UserProfile } from '@offload/contracts';
import { describe, expect, it } from 'vitest';
import { decideProfilePatch, toUserProfile } from './user.js';

describe('toUserProfile', () => {
  it('shows id, anonymous, tier, name, timezone, created_at in UTC and version, nothing else', () => {
    const view = toUserProfile({
      id: '0190a4c2-0000-7000-8000-000000000001',
      anonymous: true,
      tier: 'free',
      name: null,
      timezone: null,
      version: 3,
      createdAt: new Date('2026-01-01T12:00:00+02:00'),
      deletedAt: null,
    });
    expect(view).toEqual({
      id: '0190a4c2-0000-7000-8000-000000000001',
      anonymous: true,
      tier: 'free',
      name: null,
      timezone: null,
      created_at: '2026-01-01T10:00:00.000Z',
      version: 3,
    });
    expect(UserProfile.parse(view)).toEqual(view);
  });
});

describe('decideProfilePatch', () => {
  const user = {
    id: '0190a4c2-0000-7000-8000-000000000001',
    anonymous: false,
    tier: 'free' as const,
    name: 'Ada',
    timezone: 'Europe/Berlin',
    version: 4,
    createdAt: new Date(0),
    deletedAt: null,
  };

  it('leaves omitted fields alone and clears null ones', () => {
    expect(decideProfilePatch(user, { timezone: null })).toEqual({
      kind: 'change',
      name: 'Ada',
      timezone: null,
      changed: ['timezone'],
      version: 5,
    });
    expect(decideProfilePatch(user, { name: null, timezone: 'UTC' })).toMatchObject({
      name: null,
      timezone: 'UTC',
      changed: ['name', 'timezone'],
    });
  });

  it('changes nothing (and keeps the version) for an empty or identical patch', () => {
    expect(decideProfilePatch(user, {})).toEqual({ kind: 'unchanged' });
    expect(decideProfilePatch(user, { name: 'Ada', timezone: 'Europe/Berlin', version: 4 })).toEqual({
      kind: 'unchanged',
    });
  });

  it('refuses a stale version', () => {
    expect(decideProfilePatch(user, { name: 'Bea', version: 3 })).toEqual({ kind: 'conflict' });
    expect(decideProfilePatch(user, { name: 'Bea', version: 4 })).toMatchObject({
      kind: 'change',
      version: 5,
    });
  });
});
