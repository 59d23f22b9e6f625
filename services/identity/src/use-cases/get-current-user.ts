import type { UserProfile } from '@offload/contracts';
import { AppError } from '@offload/platform/errors';
import type { UserRepository } from '../db/user-repository.js';
import { toUserProfile } from '../domain/user.js';

/** `GET /v1/users/me`: the token's user; an erased or unknown user is 404. */
export interface GetCurrentUserDeps {
  userRepository: UserRepository;
}

export async function getCurrentUser(
  deps: GetCurrentUserDeps,
  input: { userId: string },
): Promise<UserProfile> {
  const user = await deps.userRepository.findById(input.userId);
  if (!user || user.deletedAt !== null) throw new AppError('not_found', 'user not found');
  return toUserProfile(user);
}
