import type { JwksSource, TokenVerifier } from '@offload/platform/auth';
import type { Database } from '@offload/platform/db';
import { startUserPurgeConsumer } from '@offload/platform/erasure';
import type { Logger } from '@offload/platform/logger';
import type { Bus, RunningConsumer } from '@offload/platform/nats';
import { createServiceRuntime, type ServiceRuntime } from '@offload/platform/runtime';
import type { TasksConfig } from './config.js';
import { inbox, outbox, schema, type TasksSchema } from './db/schema.js';
import { createTaskRepository, type TaskRepository } from './db/task-repository.js';
import { createUserDataRepository, type UserDataRepository } from './db/user-data-repository.js';
import { startTaskCreatedConsumer } from './events/consumers/task-created.js';

export interface TasksDeps {
  config: TasksConfig;
  logger: Logger;
  database: Database<TasksSchema>;
  bus: Bus;
  verifier: TokenVerifier;
  taskRepository: TaskRepository;
}

export interface TasksRuntime extends TasksDeps, ServiceRuntime<TasksSchema> {
  userDataRepository: UserDataRepository;
  consumers: RunningConsumer[];
}

/** The composition root of the tasks service: the one place that knows every concrete dependency. */
export async function createTasksRuntime(
  config: TasksConfig,
  overrides: { logger?: Logger; jwks?: JwksSource } = {},
): Promise<TasksRuntime> {
  const runtime = await createServiceRuntime({
    service: 'tasks',
    config,
    schema,
    // TASKS is ours to publish to; IDENTITY is where `identity.user.deleted` arrives from.
    streams: ['TASKS', 'IDENTITY'],
    logger: overrides.logger,
    jwks: overrides.jwks,
  });
  const { database, bus, logger } = runtime;
  const taskRepository = createTaskRepository(database);
  const userDataRepository = createUserDataRepository();
  const ackWaitMs = config.CONSUMER_ACK_WAIT_MS;
  const consumers = [
    await startTaskCreatedConsumer({ database, taskRepository, bus, logger, ackWaitMs }),
    // The tasks part of every erasure: the user's tasks and activity, confirmed with `tasks.user.purged`.
    await startUserPurgeConsumer({
      service: 'tasks',
      database,
      inbox,
      outbox,
      purge: userDataRepository.purge,
      bus,
      logger,
      ackWaitMs,
    }),
  ];
  runtime.stopOnClose(...consumers);
  return { ...runtime, config, taskRepository, userDataRepository, consumers };
}
