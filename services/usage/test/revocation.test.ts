import { describeSessionRevocation } from '@offload/testing';
import { usageService } from './support.js';

/**
 * DESIGN 5: the usage service refuses access tokens of revoked sessions within 5 seconds of
 * `identity.session.revoked` (published on the test's own NATS prefix, as identity publishes it).
 */
describeSessionRevocation({
  module: usageService,
  request: { method: 'GET', url: '/v1/credits/balance' },
  verifiedStatus: 200,
});
