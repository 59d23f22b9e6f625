import type { ServiceModule } from '@offload/testing';
import { buildTasksApp } from '../src/app.js';
import { loadTasksConfig, type TasksConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createTasksRuntime, type TasksRuntime } from '../src/deps.js';

export const tasksService: ServiceModule<TasksConfig, TasksRuntime> = {
  name: 'tasks',
  migrate,
  loadConfig: loadTasksConfig,
  createRuntime: createTasksRuntime,
  buildApp: buildTasksApp,
};
