import type { EventOf } from '@offload/contracts';
import type { Logger } from '@offload/platform/logger';
import { startConsumer, type Bus } from '@offload/platform/nats';
import { recordActivity, type RecordActivityDeps } from '../../use-cases/record-activity.js';

export const ACTIVITY_CONSUMER = 'tasks__activity_log';

/** Feeds the activity log from `tasks.task.created`; exactly once per event through the inbox. */
export function startTaskCreatedConsumer(
  deps: RecordActivityDeps & { bus: Bus; logger: Logger; ackWaitMs?: number },
) {
  return startConsumer(deps.bus, {
    stream: 'TASKS',
    durable: ACTIVITY_CONSUMER,
    types: ['tasks.task.created'],
    logger: deps.logger,
    ...(deps.ackWaitMs ? { ackWaitMs: deps.ackWaitMs } : {}),
    handler: async (event: EventOf<'tasks.task.created'>) => {
      await recordActivity(deps, {
        consumer: ACTIVITY_CONSUMER,
        eventId: event.id,
        userId: event.data.user_id,
        type: event.type,
        entityId: event.data.task_id,
        source: event.data.source,
        occurredAt: new Date(event.time),
      });
    },
  });
}
