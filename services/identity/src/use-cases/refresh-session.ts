import type { EventData, RefreshRequest, TokenBundle } from '@offload/contracts';
import type { RevocationList } from '@offload/platform/auth';
import type { Database, Tx } from '@offload/platform/db';
import { AppError } from '@offload/platform/errors';
import type { Logger } from '@offload/platform/logger';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type IdentitySchema } from '../db/schema.js';
import type { SessionRepository, StoredRefreshToken } from '../db/session-repository.js';
import type { UserRepository } from '../db/user-repository.js';
import { decideRefresh, type SessionPolicy } from '../domain/session.js';
import type { UserRecord } from '../domain/user.js';
import { identityEvent } from '../events/identity-events.js';
import type { AccessTokenIssuer } from '../security/access-tokens.js';
import { newRefreshToken, sha256Hex } from '../security/hashing.js';
import { openWithToken, sealWithToken } from '../security/token-sealing.js';
import { issueTokenBundle } from './start-session.js';

export interface RefreshSessionDeps {
  database: Database<IdentitySchema>;
  sessionRepository: SessionRepository;
  userRepository: UserRepository;
  accessTokens: AccessTokenIssuer;
  sessionPolicy: SessionPolicy;
  refreshGraceSeconds: number;
  revocations: Pick<RevocationList, 'add'>;
  logger: Logger;
}

type Outcome =
  | {
      kind: 'issued';
      user: UserRecord;
      sessionId: string;
      refreshToken: string;
      installId: string | undefined;
    }
  | { kind: 'refused'; reason: string }
  | { kind: 'family_revoked'; revoked: EventData<'identity.session.revoked'> };

const DAY_MS = 86_400_000;
/** A replayed token walks at most this many rotations forward to the family's current token. */
const MAX_CHAIN = 32;

const refused = () => new AppError('invalid_refresh_token', 'the refresh token is not valid; sign in again');

/**
 * `POST /v1/auth/refresh` (DESIGN 5, ADR 0009). The presented token must be its family's current one:
 * it is used up and replaced (rotation). An already-used token presented within the grace window gets
 * the family's current pair again: the current refresh token (recovered from the successor each used
 * token keeps sealed with itself) and a fresh access token; later, it revokes the whole family.
 * Refreshes of one family are serialised on the session row, so concurrent callers with the same token
 * both succeed and get the same refresh token.
 */
export async function refreshSession(
  deps: RefreshSessionDeps,
  input: RefreshRequest,
  now: Date = new Date(),
): Promise<TokenBundle> {
  const presented = input.refresh_token;
  const presentedHash = sha256Hex(presented);

  const outcome = await deps.database.db.transaction(async (tx): Promise<Outcome> => {
    const first = await deps.sessionRepository.findToken(tx, presentedHash);
    if (!first) return { kind: 'refused', reason: 'unknown' };
    const session = await deps.sessionRepository.lockSession(tx, first.sessionId);
    // Read again under the session lock: a concurrent rotation may have used it meanwhile.
    const token = await deps.sessionRepository.findToken(tx, presentedHash);
    if (!session || !token) return { kind: 'refused', reason: 'unknown' };

    const decision = decideRefresh(token, session, now, deps.refreshGraceSeconds);
    if (decision.kind === 'reject') return { kind: 'refused', reason: decision.reason };
    if (decision.kind === 'reuse') {
      await deps.sessionRepository.revoke(tx, session.id, now);
      const revoked: EventData<'identity.session.revoked'> = {
        user_id: session.userId,
        session_ids: [session.id],
        all: false,
        revoked_at: now.toISOString(),
        reason: 'refresh_token_reuse',
      };
      await appendToOutbox(tx, outbox, [
        identityEvent('identity.session.revoked', session.userId, revoked, now),
      ]);
      return { kind: 'family_revoked', revoked };
    }

    const user = await deps.userRepository.lockById(tx, session.userId);
    if (!user || user.deletedAt !== null) return { kind: 'refused', reason: 'user_deleted' };
    const installId = token.installIdSealed
      ? openWithToken(presented, 'install-id', token.installIdSealed)
      : undefined;
    if (token.installIdSealed && installId === undefined) return { kind: 'refused', reason: 'seal' };

    if (decision.kind === 'replay') {
      const current = await currentTokenOf(tx, deps.sessionRepository, presented, token);
      if (!current) return { kind: 'refused', reason: 'successor_unknown' };
      return { kind: 'issued', user, sessionId: session.id, refreshToken: current, installId };
    }

    const next = newRefreshToken();
    const idleEnd = now.getTime() + deps.sessionPolicy.refreshIdleDays * DAY_MS;
    await deps.sessionRepository.rotate(tx, {
      sessionId: session.id,
      usedTokenHash: presentedHash,
      successorSealed: sealWithToken(presented, 'successor', next),
      next: {
        tokenHash: sha256Hex(next),
        expiresAt: new Date(Math.min(idleEnd, session.absoluteExpiresAt.getTime())),
        installIdSealed: installId === undefined ? null : sealWithToken(next, 'install-id', installId),
      },
      at: now,
      graceEndsBefore: new Date(now.getTime() - deps.refreshGraceSeconds * 1000),
    });
    return { kind: 'issued', user, sessionId: session.id, refreshToken: next, installId };
  });

  if (outcome.kind === 'family_revoked') {
    deps.revocations.add(outcome.revoked);
    deps.logger.warn(
      { user_id: outcome.revoked.user_id, session_id: outcome.revoked.session_ids[0] },
      'refresh token reused after the grace window; session revoked',
    );
    throw refused();
  }
  if (outcome.kind === 'refused') {
    deps.logger.info({ reason: outcome.reason }, 'refresh refused');
    throw refused();
  }
  return issueTokenBundle(deps, {
    user: outcome.user,
    session: {
      sessionId: outcome.sessionId,
      refreshToken: outcome.refreshToken,
      installId: outcome.installId,
    },
    now,
  });
}

/**
 * Follows the sealed successors from a used token to the family's current (unused) token. Each used
 * token seals its successor with itself, so only a holder of the used token can take this path.
 */
async function currentTokenOf(
  tx: Tx<IdentitySchema>,
  repository: SessionRepository,
  token: string,
  row: StoredRefreshToken,
): Promise<string | undefined> {
  let current = token;
  let currentRow = row;
  for (let step = 0; step < MAX_CHAIN; step++) {
    if (currentRow.usedAt === null) return current;
    if (!currentRow.successorSealed) return undefined;
    const successor = openWithToken(current, 'successor', currentRow.successorSealed);
    if (!successor) return undefined;
    const successorRow = await repository.findToken(tx, sha256Hex(successor));
    if (!successorRow || successorRow.sessionId !== row.sessionId) return undefined;
    current = successor;
    currentRow = successorRow;
  }
  return undefined;
}
