import { describeUserPurgeWithoutUserRows } from '@offload/testing';
import { inbox, outbox } from '../src/db/schema.js';
import { createUserDataRepository } from '../src/db/user-data-repository.js';
import { billingService } from './support.js';

/**
 * Account erasure in the billing service (DESIGN 5). No table of the billing schema holds user rows yet, so the
 * purge deletes nothing, but identity waits for every service's confirmation: `identity.user.deleted`
 * in, `billing.user.purged` out, exactly once per event.
 */
describeUserPurgeWithoutUserRows({
  service: 'billing',
  module: billingService,
  inbox,
  outbox,
  purge: createUserDataRepository().purge,
});
