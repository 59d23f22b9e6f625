import { describeSessionRevocation } from '@offload/testing';
import { aiService } from './support.js';

/**
 * DESIGN 5: the ai service refuses access tokens of revoked sessions within 5 seconds of
 * `identity.session.revoked` (published on the test's own NATS prefix, as identity publishes it).
 */
describeSessionRevocation({
  module: aiService,
  request: { method: 'POST', url: '/v1/ai/breakdown/generate' },
  // Without the consent header a verified user gets 403 consent_required: the token passed.
  verifiedStatus: 403,
});
