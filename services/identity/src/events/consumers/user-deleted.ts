import type { EventOf } from '@offload/contracts';
import type { Logger } from '@offload/platform/logger';
import { startConsumer, type Bus } from '@offload/platform/nats';
import { purgeUser, type PurgeUserDeps } from '../../use-cases/purge-user.js';

export const PURGE_CONSUMER = 'identity__user_purge';

/** Identity's own purge on `identity.user.deleted` (its part of every erasure). */
export function startUserDeletedConsumer(deps: PurgeUserDeps & { bus: Bus; logger: Logger }) {
  return startConsumer(deps.bus, {
    stream: 'IDENTITY',
    durable: PURGE_CONSUMER,
    types: ['identity.user.deleted'],
    logger: deps.logger,
    handler: async (event: EventOf<'identity.user.deleted'>) => {
      await purgeUser(deps, {
        consumer: PURGE_CONSUMER,
        eventId: event.id,
        userId: event.data.user_id,
        erasureId: event.data.erasure_id,
      });
    },
  });
}
