import type { TaskPage } from '@offload/contracts';
import { AppError } from '@offload/platform/errors';
import type { TaskRepository } from '../db/task-repository.js';
import { decodeCursor, encodeCursor, toTaskView } from '../domain/task.js';

export async function listTasks(
  deps: { taskRepository: TaskRepository },
  input: { userId: string; limit: number; cursor: string | undefined },
): Promise<TaskPage> {
  const beforeId = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
  if (beforeId === null) {
    throw new AppError('validation_error', 'the cursor is not valid', {
      details: [{ field: 'querystring.cursor', message: 'use next_cursor from a previous page' }],
    });
  }
  const rows = await deps.taskRepository.listPage(input.userId, input.limit + 1, beforeId);
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(toTaskView),
    next_cursor: rows.length > input.limit && last ? encodeCursor(last.id) : null,
  };
}
