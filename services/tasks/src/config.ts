import { baseServiceEnv, env, loadConfig } from '@offload/platform/config';
import { z } from 'zod';

export const TasksEnv = baseServiceEnv.extend({
  PORT: env.port(3004),
  /** How long JetStream waits for a consumer's ack before redelivering. */
  CONSUMER_ACK_WAIT_MS: z.coerce.number().int().min(500).max(300_000).default(30_000),
});
export type TasksConfig = z.infer<typeof TasksEnv>;

export const loadTasksConfig = (source: Record<string, string | undefined> = process.env) =>
  loadConfig('tasks', TasksEnv, source);
