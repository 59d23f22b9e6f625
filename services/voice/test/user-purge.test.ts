import { describeUserPurgeWithoutUserRows } from '@offload/testing';
import { inbox, outbox } from '../src/db/schema.js';
import { createUserDataRepository } from '../src/db/user-data-repository.js';
import { voiceService } from './support.js';

/**
 * Account erasure in the voice service (DESIGN 5). No table of the voice schema holds user rows yet, so the
 * purge deletes nothing, but identity waits for every service's confirmation: `identity.user.deleted`
 * in, `voice.user.purged` out, exactly once per event.
 */
describeUserPurgeWithoutUserRows({
  service: 'voice',
  module: voiceService,
  inbox,
  outbox,
  purge: createUserDataRepository().purge,
});
