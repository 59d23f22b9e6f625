import type { UpdateUserRequest, UserProfile } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type IdentitySchema } from '../db/schema.js';
import type { UserRepository } from '../db/user-repository.js';
import { decideProfilePatch, toUserProfile } from '../domain/user.js';
import { identityEvent } from '../events/identity-events.js';

export interface UpdateCurrentUserDeps {
  database: Database<IdentitySchema>;
  userRepository: UserRepository;
}

/**
 * `PATCH /v1/users/me`: omitted fields stay, `null` clears, a stale `version` is 409 `conflict`. A real
 * change bumps the version and publishes `identity.user.updated` naming the changed fields (not values).
 */
export async function updateCurrentUser(
  deps: UpdateCurrentUserDeps,
  input: { userId: string; patch: UpdateUserRequest },
  now: Date = new Date(),
): Promise<UserProfile> {
  return deps.database.db.transaction(async (tx) => {
    const user = await deps.userRepository.lockById(tx, input.userId);
    if (!user || user.deletedAt !== null) throw new AppError('not_found', 'user not found');
    const decision = decideProfilePatch(user, input.patch);
    if (decision.kind === 'conflict') {
      throw new AppError('conflict', 'the profile changed since you read it; reload and try again');
    }
    if (decision.kind === 'unchanged') return toUserProfile(user);
    const updated = await deps.userRepository.updateProfile(tx, user.id, {
      name: decision.name,
      timezone: decision.timezone,
      version: decision.version,
    });
    await appendToOutbox(tx, outbox, [
      identityEvent(
        'identity.user.updated',
        user.id,
        { user_id: user.id, changed: decision.changed, version: updated.version },
        now,
      ),
    ]);
    return toUserProfile(updated);
  });
}
