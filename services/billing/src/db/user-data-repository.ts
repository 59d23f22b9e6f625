import type { Tx } from '@offload/platform/db';
import type { BillingSchema } from './schema.js';

/**
 * Every table of the billing schema that holds rows of a user, for account erasure (DESIGN 5). Today none
 * does: the outbox (kept for re-publication, pruned after 7 days) and the inbox (event ids only) are
 * not user data tables. A test compares this list with every `user_id` column of the schema, so a
 * table added later without its delete here fails it.
 */
export function createUserDataRepository() {
  return {
    /** Deletes every row of `userId` (inside the caller's transaction) and counts them per table. */
    async purge(_tx: Tx<BillingSchema>, _userId: string): Promise<Record<string, number>> {
      return {};
    },
  };
}

export type UserDataRepository = ReturnType<typeof createUserDataRepository>;
