import { pgSchema } from 'drizzle-orm/pg-core';
import { inboxTable, outboxTable } from '@offload/platform/outbox';

export const billingSchema = pgSchema('billing');

/** Events the billing service will publish go through its outbox (DESIGN 12). */
export const outbox = outboxTable(billingSchema);

/** Events the billing service consumed, by id, so a redelivery has no second effect (DESIGN 12). */
export const inbox = inboxTable(billingSchema);

export const schema = { outbox, inbox };
export type BillingSchema = typeof schema;
