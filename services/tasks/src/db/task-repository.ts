import { and, desc, eq, lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '@offload/platform/db';
import { tasks, type TasksSchema } from './schema.js';

export type TaskRow = typeof tasks.$inferSelect;
export type NewTaskRow = typeof tasks.$inferInsert;

export function createTaskRepository(database: Database<TasksSchema>) {
  const { db } = database;
  const byId = db
    .select()
    .from(tasks)
    .where(
      and(
        eq(tasks.id, sql.placeholder('id')),
        eq(tasks.userId, sql.placeholder('userId')),
        eq(tasks.deleted, false),
      ),
    )
    .limit(1)
    .prepare('tasks_by_id');

  return {
    async insert(tx: Tx<TasksSchema>, row: NewTaskRow): Promise<TaskRow> {
      const [created] = await tx.insert(tasks).values(row).returning();
      return created!;
    },
    /**
     * True when the task exists (deleted-flagged or not), holding a key-share lock on it until the
     * transaction ends: a concurrent erasure of its user waits for that transaction, or has removed it.
     */
    async lockExisting(tx: Tx<TasksSchema>, userId: string, id: string): Promise<boolean> {
      const rows = await tx
        .select({ id: tasks.id })
        .from(tasks)
        .where(and(eq(tasks.id, id), eq(tasks.userId, userId)))
        .for('key share');
      return rows.length === 1;
    },
    async findById(userId: string, id: string): Promise<TaskRow | undefined> {
      const [row] = await byId.execute({ id, userId });
      return row;
    },
    /** Newest first; ids are UUIDv7, so id order is creation order. */
    async listPage(userId: string, limit: number, beforeId: string | undefined): Promise<TaskRow[]> {
      return db
        .select()
        .from(tasks)
        .where(
          and(
            eq(tasks.userId, userId),
            eq(tasks.deleted, false),
            beforeId ? lt(tasks.id, beforeId) : undefined,
          ),
        )
        .orderBy(desc(tasks.id))
        .limit(limit);
    },
  };
}

export type TaskRepository = ReturnType<typeof createTaskRepository>;
