import { eq } from 'drizzle-orm';
import type { Tx } from '@offload/platform/db';
import { activity, tasks, type TasksSchema } from './schema.js';

/**
 * Every table of the tasks schema that holds rows of a user, for account erasure (DESIGN 5). The outbox
 * is not here: its rows are kept for re-publication and pruned after 7 days; the inbox holds event ids
 * only. A test compares this list with every `user_id` column of the schema.
 */
export function createUserDataRepository() {
  return {
    /**
     * Deletes every row of `userId` (inside the caller's transaction) and counts them per table. Tasks go
     * first: the activity consumer locks the task an event is about before writing (see
     * `recordActivity`), so an activity row written concurrently is either committed before this delete
     * reaches its task, and deleted with the activity below, or finds the task gone and is skipped.
     */
    async purge(tx: Tx<TasksSchema>, userId: string): Promise<Record<string, number>> {
      const taskRows = await tx.delete(tasks).where(eq(tasks.userId, userId)).returning({ id: tasks.id });
      const activityRows = await tx
        .delete(activity)
        .where(eq(activity.userId, userId))
        .returning({ id: activity.id });
      return { tasks: taskRows.length, activity: activityRows.length };
    },
  };
}

export type UserDataRepository = ReturnType<typeof createUserDataRepository>;
