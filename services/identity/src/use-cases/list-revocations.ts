import type { RevocationSnapshot } from '@offload/contracts';
import type { RevocationRepository } from '../db/revocation-repository.js';

const PAGE_SIZE = 5_000;
/** Clock skew allowed between identity and verifiers, on top of the token lifetime. */
const SKEW_SECONDS = 60;

function encodeCursor(position: { revokedAt: Date; sessionId: string }): string {
  return Buffer.from(`${position.revokedAt.toISOString()}|${position.sessionId}`, 'utf8').toString(
    'base64url',
  );
}

function decodeCursor(cursor: string | undefined): { revokedAt: Date; sessionId: string } | undefined {
  if (!cursor) return undefined;
  const [at, sessionId] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const revokedAt = new Date(at ?? '');
  if (Number.isNaN(revokedAt.getTime()) || !sessionId) return undefined;
  return { revokedAt, sessionId };
}

/**
 * `identity.revocations` (request/reply): everything revoked recently enough that an access token it
 * refuses could still be alive (the access-token lifetime plus clock skew), for verifiers starting up or
 * catching up after a disconnect.
 */
export async function listRevocations(
  deps: { revocationRepository: RevocationRepository; accessTokenTtlSeconds: number },
  input: { cursor?: string },
  now: Date = new Date(),
): Promise<RevocationSnapshot> {
  const windowSeconds = deps.accessTokenTtlSeconds + SKEW_SECONDS;
  const since = new Date(now.getTime() - windowSeconds * 1000);
  const after = decodeCursor(input.cursor);
  const rows = await deps.revocationRepository.revokedSessions(since, after, PAGE_SIZE);
  const users = after ? [] : await deps.revocationRepository.cutoffsSince(since);
  const last = rows[rows.length - 1];
  return {
    window_seconds: windowSeconds,
    generated_at: now.toISOString(),
    sessions: rows.map((r) => ({
      session_id: r.sessionId,
      user_id: r.userId,
      revoked_at: r.revokedAt.toISOString(),
    })),
    users: users.map((u) => ({ user_id: u.userId, revoked_before: u.revokedBefore.toISOString() })),
    next_cursor: rows.length === PAGE_SIZE && last ? encodeCursor(last) : null,
  };
}
