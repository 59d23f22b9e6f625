import { USER_PURGED_EVENT, type ErasureService, type EventOf, type StreamName } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import type { Logger } from '@offload/platform/logger';
import { startConsumer, type Bus, type RunningConsumer } from '@offload/platform/nats';
import type { ErasureRepository } from '../../db/erasure-repository.js';
import type { IdentitySchema } from '../../db/schema.js';
import { recordErasureConfirmation } from '../../use-cases/record-erasure-confirmation.js';

export const CONFIRMATION_CONSUMER = 'identity__erasure_confirmations';

type OtherService = Exclude<ErasureService, 'identity'>;
type PurgedType = (typeof USER_PURGED_EVENT)[OtherService];

/** The stream each service publishes its `<service>.user.purged` on. */
export const streamOfService = (service: OtherService): StreamName => service.toUpperCase() as StreamName;

/**
 * One consumer per other erasure service, on that service's stream, recording its
 * `<service>.user.purged` confirmations. Recording is idempotent (keyed by erasure and service), so
 * redeliveries need no inbox.
 */
export async function startUserPurgedConsumers(deps: {
  bus: Bus;
  logger: Logger;
  database: Database<IdentitySchema>;
  erasureRepository: ErasureRepository;
  services: ErasureService[];
}): Promise<RunningConsumer[]> {
  const consumers: RunningConsumer[] = [];
  for (const service of deps.services) {
    if (service === 'identity') continue;
    const type: PurgedType = USER_PURGED_EVENT[service];
    consumers.push(
      await startConsumer(deps.bus, {
        stream: streamOfService(service),
        durable: CONFIRMATION_CONSUMER,
        types: [type],
        logger: deps.logger,
        handler: async (event: EventOf<PurgedType>) => {
          if (event.data.service !== service) {
            deps.logger.warn({ type: event.type, service: event.data.service }, 'purge confirmation ignored');
            return;
          }
          const outcome = await recordErasureConfirmation(deps, {
            erasureId: event.data.erasure_id,
            confirmation: {
              service,
              purgedAt: new Date(event.data.purged_at),
              erased: event.data.erased,
            },
          });
          deps.logger.info({ erasure_id: event.data.erasure_id, service, outcome }, 'erasure confirmation');
        },
      }),
    );
  }
  return consumers;
}
