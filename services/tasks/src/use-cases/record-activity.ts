import { newId } from '@offload/contracts';
import type { Database } from '@offload/platform/db';
import { claimInbox } from '@offload/platform/outbox';
import { activity, inbox, type TasksSchema } from '../db/schema.js';
import type { TaskRepository } from '../db/task-repository.js';

export interface RecordActivityDeps {
  database: Database<TasksSchema>;
  taskRepository: Pick<TaskRepository, 'lockExisting'>;
}

export interface ActivityEntry {
  consumer: string;
  eventId: string;
  userId: string;
  type: string;
  /** The task the event is about. */
  entityId: string;
  source: string;
  occurredAt: Date;
}

/** `recorded`: one row written. `duplicate_event`: handled before (inbox). `task_gone`: nothing to log. */
export type ActivityOutcome = 'recorded' | 'duplicate_event' | 'task_gone';

/**
 * Appends one activity row per event; a redelivered event is claimed already and changes nothing. An
 * event about a task that no longer exists writes nothing: its user was erased (DESIGN 5) while the
 * event waited, and a row written now would outlive the erasure. The task stays locked until commit, so
 * an erasure running at the same time deletes the row this writes (see `UserDataRepository.purge`).
 */
export async function recordActivity(
  deps: RecordActivityDeps,
  entry: ActivityEntry,
): Promise<ActivityOutcome> {
  return deps.database.db.transaction(async (tx) => {
    if (!(await claimInbox(tx, inbox, entry.consumer, entry.eventId))) return 'duplicate_event';
    if (!(await deps.taskRepository.lockExisting(tx, entry.userId, entry.entityId))) return 'task_gone';
    await tx.insert(activity).values({
      id: newId(),
      userId: entry.userId,
      eventId: entry.eventId,
      type: entry.type,
      entityId: entry.entityId,
      source: entry.source,
      occurredAt: entry.occurredAt,
    });
    return 'recorded';
  });
}
