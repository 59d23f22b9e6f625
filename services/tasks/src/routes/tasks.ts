import { CreateTaskRequest, IdParams, PageQuery, Task, TaskPage } from '@offload/contracts';
import { requireUser, type TokenVerifier } from '@offload/platform/auth';
import { errorResponse, routePlugin, type App } from '@offload/platform/http';
import { createTask, type CreateTaskDeps } from '../use-cases/create-task.js';
import { getTask } from '../use-cases/get-task.js';
import { listTasks } from '../use-cases/list-tasks.js';

export interface TaskRoutesDeps extends CreateTaskDeps {
  verifier: TokenVerifier;
}

const errors = { 401: errorResponse, 404: errorResponse, 422: errorResponse };

/** Thin routes: validate, call one use-case, reply. Every route needs a user (encapsulated hook). */
export function taskRoutes(deps: TaskRoutesDeps) {
  return routePlugin('tasks routes', async (app: App) => {
    app.addHook('onRequest', requireUser(deps.verifier));

    app.post(
      '/v1/tasks',
      {
        schema: {
          tags: ['tasks'],
          summary: 'Create a task',
          security: [{ bearerAuth: [] }],
          body: CreateTaskRequest,
          response: { 201: Task, ...errors },
        },
      },
      async (request, reply) =>
        reply.code(201).send(await createTask(deps, { userId: request.user.userId, task: request.body })),
    );

    app.get(
      '/v1/tasks',
      {
        schema: {
          tags: ['tasks'],
          summary: 'List tasks, newest first',
          security: [{ bearerAuth: [] }],
          querystring: PageQuery,
          response: { 200: TaskPage, ...errors },
        },
      },
      async (request) =>
        listTasks(deps, {
          userId: request.user.userId,
          limit: request.query.limit,
          cursor: request.query.cursor,
        }),
    );

    app.get(
      '/v1/tasks/:id',
      {
        schema: {
          tags: ['tasks'],
          summary: 'Get one task',
          security: [{ bearerAuth: [] }],
          params: IdParams,
          response: { 200: Task, ...errors },
        },
      },
      async (request) => getTask(deps, { userId: request.user.userId, id: request.params.id }),
    );
  });
}
