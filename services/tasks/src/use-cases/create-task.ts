import { newId, type CreateTaskRequest, type EventOf, type Task } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import { appendToOutbox } from '@offload/platform/outbox';
import { outbox, type TasksSchema } from '../db/schema.js';
import type { TaskRepository } from '../db/task-repository.js';
import { toTaskView } from '../domain/task.js';

export interface CreateTaskDeps {
  database: Database<TasksSchema>;
  taskRepository: TaskRepository;
}

/** Creates a task and its `tasks.task.created` event in one transaction (outbox). */
export async function createTask(
  deps: CreateTaskDeps,
  input: { userId: string; task: CreateTaskRequest },
): Promise<Task> {
  const id = newId();
  const now = new Date();
  return deps.database.db.transaction(async (tx) => {
    const row = await deps.taskRepository.insert(tx, {
      id,
      userId: input.userId,
      title: input.task.title,
      description: input.task.description ?? null,
      priority: input.task.priority,
      dueDate: input.task.due_date ? new Date(input.task.due_date) : null,
      source: input.task.source,
      createdAt: now,
      updatedAt: now,
    });
    const event: EventOf<'tasks.task.created'> = {
      id: newId(),
      type: 'tasks.task.created',
      source: 'tasks',
      time: now.toISOString(),
      subject: input.userId,
      data: {
        task_id: row.id,
        user_id: input.userId,
        priority: row.priority,
        has_due_date: row.dueDate !== null,
        source: row.source,
      },
    };
    await appendToOutbox(tx, outbox, [event]);
    return toTaskView(row);
  });
}
