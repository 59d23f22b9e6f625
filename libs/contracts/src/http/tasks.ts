import { z } from 'zod';
import { Id, Timestamp } from '../ids.js';
import { page } from './common.js';

export const Priority = z.enum(['low', 'medium', 'high']);
export type Priority = z.infer<typeof Priority>;

export const CreateTaskRequest = z
  .object({
    title: z.string().trim().min(1).max(200),
    description: z.string().max(2000).nullable().optional(),
    priority: Priority.default('medium'),
    due_date: Timestamp.nullable().optional(),
    source: z.enum(['user', 'ai']).default('user'),
  })
  .strict();
export type CreateTaskRequest = z.infer<typeof CreateTaskRequest>;

export const Task = z.object({
  id: Id,
  title: z.string(),
  description: z.string().nullable(),
  priority: Priority,
  due_date: Timestamp.nullable(),
  completed: z.boolean(),
  source: z.enum(['user', 'ai']),
  version: z.number().int(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Task = z.infer<typeof Task>;

export const TaskPage = page(Task);
export type TaskPage = z.infer<typeof TaskPage>;
