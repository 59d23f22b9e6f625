import { pgSchema } from 'drizzle-orm/pg-core';
import { inboxTable, outboxTable } from '@offload/platform/outbox';

export const voiceSchema = pgSchema('voice');

/** Events the voice service will publish go through its outbox (DESIGN 12). */
export const outbox = outboxTable(voiceSchema);

/** Events the voice service consumed, by id, so a redelivery has no second effect (DESIGN 12). */
export const inbox = inboxTable(voiceSchema);

export const schema = { outbox, inbox };
export type VoiceSchema = typeof schema;
