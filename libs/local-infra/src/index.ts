export { findOrStartPostgres, ensureDatabase, dropDatabase, type PostgresHandle } from './postgres.js';
export {
  findOrStartNats,
  startNatsServer,
  natsServerBinary,
  type NatsHandle,
  type NatsServerProcess,
} from './nats.js';
export { freePort, isListening, waitFor } from './probe.js';
