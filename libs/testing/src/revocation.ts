import { newId, type EventOf, type SessionRevocationReason } from '@offload/contracts';
import { publishEvent, type Bus } from '@offload/platform/nats';

/**
 * Publishes `identity.session.revoked` as identity does (on the IDENTITY stream's subject, which every
 * revocation list subscribes to). `all` revokes every token of the user issued up to now.
 */
export async function publishRevocation(
  bus: Bus,
  input: { userId: string; sessionIds?: string[]; all?: boolean; reason?: SessionRevocationReason },
): Promise<EventOf<'identity.session.revoked'>> {
  const now = new Date().toISOString();
  const event: EventOf<'identity.session.revoked'> = {
    id: newId(),
    type: 'identity.session.revoked',
    source: 'identity',
    time: now,
    subject: input.userId,
    data: {
      user_id: input.userId,
      session_ids: input.sessionIds ?? [],
      all: input.all ?? false,
      revoked_at: now,
      reason: input.reason ?? (input.all ? 'logout_all' : 'logout'),
    },
  };
  await publishEvent(bus, event);
  return event;
}
