import { newId, type EventData, type EventOf, type EventType } from '@offload/contracts';

type IdentityEventType = Extract<EventType, `identity.${string}`>;

/** An identity event about `userId` (its `subject`), ready for the outbox. */
export function identityEvent<T extends IdentityEventType>(
  type: T,
  userId: string,
  data: EventData<T>,
  now: Date,
): EventOf<T> {
  return {
    id: newId(),
    type,
    source: 'identity',
    time: now.toISOString(),
    subject: userId,
    data,
  } as EventOf<T>;
}
