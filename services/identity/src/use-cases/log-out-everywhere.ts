import type { EventData } from '@offload/contracts';
import type { RevocationList } from '@offload/platform/auth';
import type { Database, Tx } from '@offload/platform/db';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type IdentitySchema } from '../db/schema.js';
import type { SessionRepository } from '../db/session-repository.js';
import { identityEvent } from '../events/identity-events.js';

export interface LogOutEverywhereDeps {
  database: Database<IdentitySchema>;
  sessionRepository: SessionRepository;
  revocations: Pick<RevocationList, 'add'>;
}

/** The event `session_ids` list is capped; `all: true` covers every session beyond it. */
const LISTED_SESSIONS = 1000;

/**
 * Revokes every session of a user inside the caller's transaction and queues `identity.session.revoked`
 * with `all: true`: verifiers then refuse every access token of the user issued up to this second.
 */
export async function revokeEverySession(
  deps: { sessionRepository: SessionRepository },
  tx: Tx<IdentitySchema>,
  input: { userId: string; reason: 'logout_all' | 'user_deleted'; now: Date },
): Promise<EventData<'identity.session.revoked'>> {
  const ids = await deps.sessionRepository.revokeAllOfUser(tx, input.userId, input.now);
  const data: EventData<'identity.session.revoked'> = {
    user_id: input.userId,
    session_ids: ids.slice(0, LISTED_SESSIONS),
    all: true,
    revoked_at: input.now.toISOString(),
    reason: input.reason,
  };
  await appendToOutbox(tx, outbox, [
    identityEvent('identity.session.revoked', input.userId, data, input.now),
  ]);
  return data;
}

/** `POST /v1/auth/logout-all` (DESIGN 5): every session of the token's user ends. */
export async function logOutEverywhere(
  deps: LogOutEverywhereDeps,
  input: { userId: string },
  now: Date = new Date(),
): Promise<void> {
  const revoked = await deps.database.db.transaction((tx) =>
    revokeEverySession(deps, tx, { userId: input.userId, reason: 'logout_all', now }),
  );
  deps.revocations.add(revoked);
}
