import { describeSessionRevocation } from '@offload/testing';
import { billingService } from './support.js';

/**
 * DESIGN 5: the billing service refuses access tokens of revoked sessions within 5 seconds of
 * `identity.session.revoked` (published on the test's own NATS prefix, as identity publishes it).
 */
describeSessionRevocation({
  module: billingService,
  request: { method: 'GET', url: '/v1/subscription' },
});
