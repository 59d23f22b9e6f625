export { createTestInfra, type TestInfra } from './infra.js';
export { LogCapture } from './logs.js';
export { eventually } from './wait.js';
export { createTestSigner } from './tokens.js';
export { buildTestApp, type ServiceModule, type TestApp } from './build-test-app.js';
export { factories } from './factories.js';
export { startFakeGoogle, type FakeGoogle, type GoogleIdTokenClaims } from './fake-google.js';
export {
  isJetStreamAck,
  NatsClientFrameSplitter,
  startNatsFaultProxy,
  type NatsClientFrame,
  type NatsFaultProxy,
  type NatsFaultProxyStats,
} from './nats-fault-proxy.js';
export {
  fakeReplies,
  nestedSteps,
  startFakeOpenAi,
  type FakeOpenAi,
  type FakeOpenAiRequest,
  type FakeReply,
} from './fake-openai.js';
export { startErasureProbe, userTablesOf, type ErasureProbe, type UserPurgedEvent } from './erasure-probe.js';
export { publishRevocation } from './revocation.js';
export { describeSessionRevocation, type SessionRevocationSuite } from './revocation-suite.js';
export { describeUserPurgeWithoutUserRows, type UserPurgeSuite } from './user-purge-suite.js';
