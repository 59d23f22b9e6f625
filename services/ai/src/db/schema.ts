import { pgSchema } from 'drizzle-orm/pg-core';
import { inboxTable, outboxTable } from '@offload/platform/outbox';

export const aiSchema = pgSchema('ai');

/** Events the ai service will publish go through its outbox (DESIGN 12). */
export const outbox = outboxTable(aiSchema);

/** Events the ai service consumed, by id, so a redelivery has no second effect (DESIGN 12). */
export const inbox = inboxTable(aiSchema);

export const schema = { outbox, inbox };
export type AiSchema = typeof schema;
