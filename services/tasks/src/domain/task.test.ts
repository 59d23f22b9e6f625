import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, toTaskView } from './task.js';

describe('cursors', () => {
  it('round-trip an id', () => {
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    expect(decodeCursor(encodeCursor(id))).toBe(id);
  });
  it('reject anything that is not one of ours', () => {
    expect(decodeCursor('garbage')).toBeNull();
    expect(decodeCursor(Buffer.from('v1:not-a-uuid').toString('base64url'))).toBeNull();
    expect(decodeCursor(Buffer.from("v1:' or 1=1 --").toString('base64url'))).toBeNull();
  });
});

describe('toTaskView', () => {
  it('renders UTC timestamps with Z and completion as a flag', () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    const view = toTaskView({
      id: '01890a5d-ac96-774b-bcce-b302099a8057',
      title: 't',
      description: null,
      priority: 'low',
      dueDate: null,
      completedAt: at,
      source: 'user',
      version: 1,
      createdAt: at,
      updatedAt: at,
    });
    expect(view).toMatchObject({ completed: true, due_date: null, created_at: '2026-01-02T03:04:05.000Z' });
  });
});
