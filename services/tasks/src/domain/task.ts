import type { Task } from '@offload/contracts';

/** What the domain needs of a stored task; the db layer maps rows to this shape. */
export interface TaskRecord {
  id: string;
  title: string;
  description: string | null;
  priority: Task['priority'];
  dueDate: Date | null;
  completedAt: Date | null;
  source: Task['source'];
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export function toTaskView(record: TaskRecord): Task {
  return {
    id: record.id,
    title: record.title,
    description: record.description,
    priority: record.priority,
    due_date: record.dueDate?.toISOString() ?? null,
    completed: record.completedAt !== null,
    source: record.source,
    version: record.version,
    created_at: record.createdAt.toISOString(),
    updated_at: record.updatedAt.toISOString(),
  };
}

/** Opaque cursors: the last id of a page, base64url-encoded so clients do not build them. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(`v1:${lastId}`, 'utf8').toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decodeCursor(cursor: string): string | null {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!decoded.startsWith('v1:')) return null;
  const id = decoded.slice(3);
  return UUID.test(id) ? id : null;
}
