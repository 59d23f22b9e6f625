import { describeUserPurgeWithoutUserRows } from '@offload/testing';
import { inbox, outbox } from '../src/db/schema.js';
import { createUserDataRepository } from '../src/db/user-data-repository.js';
import { aiService } from './support.js';

/**
 * Account erasure in the ai service (DESIGN 5). No table of the ai schema holds user rows yet, so the
 * purge deletes nothing, but identity waits for every service's confirmation: `identity.user.deleted`
 * in, `ai.user.purged` out, exactly once per event.
 */
describeUserPurgeWithoutUserRows({
  service: 'ai',
  module: aiService,
  inbox,
  outbox,
  purge: createUserDataRepository().purge,
});
