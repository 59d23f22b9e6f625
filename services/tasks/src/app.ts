import { createHttpServer, type App } from '@offload/platform/http';
import type { TasksDeps } from './deps.js';
import { taskRoutes } from './routes/tasks.js';

export const SERVICE_VERSION = '0.1.0';

/** Builds the tasks HTTP app; it never listens (server.ts does). */
export async function buildTasksApp(deps: TasksDeps): Promise<App> {
  const app = await createHttpServer({
    service: 'tasks',
    version: SERVICE_VERSION,
    logger: deps.logger,
    openapi: { title: 'Offload Cloud tasks', description: 'Tasks, subtasks, notes and reminders' },
    readiness: {
      postgres: () => deps.database.ping(),
      nats: async () => {
        if (deps.bus.nc.isClosed()) throw new Error('nats closed');
        await deps.bus.nc.flush();
      },
    },
  });
  await app.register(taskRoutes(deps));
  return app;
}
