import { newId, type EventData, type EventOf } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type AiSchema } from '../db/schema.js';

/**
 * Writes `ai.request.completed` to the outbox (DESIGN 12). Metadata only: ids, counts, enums, never the
 * prompt or the answer (zero retention, DESIGN 7).
 */
export async function recordAiRequest(
  deps: { database: Database<AiSchema> },
  data: EventData<'ai.request.completed'>,
): Promise<void> {
  const event: EventOf<'ai.request.completed'> = {
    id: newId(),
    type: 'ai.request.completed',
    source: 'ai',
    time: new Date().toISOString(),
    subject: data.user_id,
    data,
  };
  await appendToOutbox(deps.database.db, outbox, [event]);
}
