import type { Task } from '@offload/contracts';
import { AppError } from '@offload/platform/errors';
import type { TaskRepository } from '../db/task-repository.js';
import { toTaskView } from '../domain/task.js';

/** Another user's task is 404, never 403, so existence does not leak (DESIGN 4). */
export async function getTask(
  deps: { taskRepository: TaskRepository },
  input: { userId: string; id: string },
): Promise<Task> {
  const row = await deps.taskRepository.findById(input.userId, input.id);
  if (!row) throw new AppError('not_found', 'task not found');
  return toTaskView(row);
}
