import type { EventData, LogoutRequest } from '@offload/contracts';
import type { RevocationList } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type IdentitySchema } from '../db/schema.js';
import type { SessionRepository } from '../db/session-repository.js';
import { identityEvent } from '../events/identity-events.js';
import { sha256Hex } from '../security/hashing.js';

export interface LogOutDeps {
  database: Database<IdentitySchema>;
  sessionRepository: SessionRepository;
  revocations: Pick<RevocationList, 'add'>;
}

/**
 * `POST /v1/auth/logout` (DESIGN 5): revokes the refresh token's whole family (session), so neither its
 * refresh tokens nor its access tokens work any more. Idempotent: an unknown token or an already
 * revoked session changes nothing and publishes nothing.
 */
export async function logOut(deps: LogOutDeps, input: LogoutRequest, now: Date = new Date()): Promise<void> {
  const revoked = await deps.database.db.transaction(async (tx) => {
    const token = await deps.sessionRepository.findToken(tx, sha256Hex(input.refresh_token));
    if (!token) return undefined;
    const session = await deps.sessionRepository.lockSession(tx, token.sessionId);
    if (!session || !(await deps.sessionRepository.revoke(tx, session.id, now))) return undefined;
    const data: EventData<'identity.session.revoked'> = {
      user_id: session.userId,
      session_ids: [session.id],
      all: false,
      revoked_at: now.toISOString(),
      reason: 'logout',
    };
    await appendToOutbox(tx, outbox, [identityEvent('identity.session.revoked', session.userId, data, now)]);
    return data;
  });
  if (revoked) deps.revocations.add(revoked);
}
