import { sql } from 'drizzle-orm';
import { boolean, index, integer, pgSchema, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { inboxTable, outboxTable } from '@offload/platform/outbox';

export const tasksSchema = pgSchema('tasks');

export const priority = tasksSchema.enum('priority', ['low', 'medium', 'high']);
export const changeSource = tasksSchema.enum('change_source', ['user', 'ai']);

export const tasks = tasksSchema.table(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').notNull(),
    title: text('title').notNull(),
    description: text('description'),
    priority: priority('priority').notNull().default('medium'),
    dueDate: timestamp('due_date', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    source: changeSource('source').notNull().default('user'),
    version: integer('version').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    deleted: boolean('deleted').notNull().default(false),
  },
  (t) => [
    index('tasks_user_id_id_idx')
      .on(t.userId, t.id.desc())
      .where(sql`${t.deleted} = false`),
  ],
);

/**
 * Activity log (DESIGN 9): one row per change, written by the `tasks__activity_log` consumer from the
 * service's own events. Ids and enums only, never task text.
 */
export const activity = tasksSchema.table(
  'activity',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').notNull(),
    eventId: uuid('event_id').notNull().unique(),
    type: text('type').notNull(),
    entityId: uuid('entity_id').notNull(),
    source: text('source').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('activity_user_id_occurred_at_idx').on(t.userId, t.occurredAt.desc())],
);

export const outbox = outboxTable(tasksSchema);
export const inbox = inboxTable(tasksSchema);

export const schema = { tasks, activity, outbox, inbox };
export type TasksSchema = typeof schema;
