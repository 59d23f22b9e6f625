import type { EventOf } from '@offload/contracts';
import type { Logger } from '@offload/platform/logger';
import { startConsumer, type Bus } from '@offload/platform/nats';
import {
  grantKickstartCredits,
  type GrantKickstartCreditsDeps,
} from '../../use-cases/grant-kickstart-credits.js';

export const KICKSTART_CONSUMER = 'usage__kickstart_credits';

/** Grants the kickstart credits on `identity.user.created`; exactly once per user through the inbox. */
export function startUserCreatedConsumer(
  deps: GrantKickstartCreditsDeps & { bus: Bus; logger: Logger; ackWaitMs?: number },
) {
  return startConsumer(deps.bus, {
    stream: 'IDENTITY',
    durable: KICKSTART_CONSUMER,
    types: ['identity.user.created'],
    logger: deps.logger,
    ...(deps.ackWaitMs ? { ackWaitMs: deps.ackWaitMs } : {}),
    handler: async (event: EventOf<'identity.user.created'>, meta) => {
      const outcome = await grantKickstartCredits(deps, {
        consumer: KICKSTART_CONSUMER,
        eventId: event.id,
        userId: event.data.user_id,
      });
      deps.logger.info(
        { durable: KICKSTART_CONSUMER, event_id: event.id, delivery: meta.deliveryCount, outcome },
        'kickstart credits handled',
      );
    },
  });
}
