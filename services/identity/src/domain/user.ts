import type { UserProfile } from '@offload/contracts';

/** What the domain needs of a stored user; the db layer maps rows to this shape. */
export interface UserRecord {
  id: string;
  anonymous: boolean;
  tier: 'free' | 'pro';
  name: string | null;
  timezone: string | null;
  version: number;
  createdAt: Date;
  deletedAt: Date | null;
}

export function toUserProfile(user: UserRecord): UserProfile {
  return {
    id: user.id,
    anonymous: user.anonymous,
    tier: user.tier,
    name: user.name,
    timezone: user.timezone,
    created_at: user.createdAt.toISOString(),
    version: user.version,
  };
}

export type ProfileField = 'name' | 'timezone';

export interface ProfilePatch {
  /** undefined = unchanged, null = clear. */
  name?: string | null;
  timezone?: string | null;
  version?: number;
}

export type ProfilePatchDecision =
  | { kind: 'conflict' }
  | { kind: 'unchanged' }
  | {
      kind: 'change';
      name: string | null;
      timezone: string | null;
      changed: ProfileField[];
      version: number;
    };

/**
 * PATCH semantics (DESIGN 4): omitted fields stay, `null` clears, a stale `version` is a conflict. A
 * patch that changes nothing leaves the version as it is.
 */
export function decideProfilePatch(user: UserRecord, patch: ProfilePatch): ProfilePatchDecision {
  if (patch.version !== undefined && patch.version !== user.version) return { kind: 'conflict' };
  const name = patch.name === undefined ? user.name : patch.name;
  // Stored as the client spelled it (validated): ICU's canonical ids are legacy ones (Asia/Calcutta).
  const timezone = patch.timezone === undefined ? user.timezone : patch.timezone;
  const changed: ProfileField[] = [];
  if (name !== user.name) changed.push('name');
  if (timezone !== user.timezone) changed.push('timezone');
  if (changed.length === 0) return { kind: 'unchanged' };
  return { kind: 'change', name, timezone, changed, version: user.version + 1 };
}
