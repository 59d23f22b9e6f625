import type { Erasure } from '@offload/contracts';
import { AppError } from '@offload/platform/errors';
import type { ErasureRepository } from '../db/erasure-repository.js';
import { toErasureStatus } from '../domain/erasure.js';

/** `GET /v1/users/erasures/{erasure_id}`: progress of an erasure, by its unguessable id. */
export async function getErasure(
  deps: { erasureRepository: ErasureRepository },
  input: { erasureId: string },
): Promise<Erasure> {
  const found = await deps.erasureRepository.find(input.erasureId);
  if (!found) throw new AppError('not_found', 'erasure not found');
  return toErasureStatus(found.erasure, found.confirmations);
}
