import { describeSessionRevocation } from '@offload/testing';
import { voiceService } from './support.js';

/**
 * DESIGN 5: the voice service refuses access tokens of revoked sessions within 5 seconds of
 * `identity.session.revoked` (published on the test's own NATS prefix, as identity publishes it).
 */
describeSessionRevocation({
  module: voiceService,
  request: { method: 'GET', url: '/v1/voice/stream' },
});
