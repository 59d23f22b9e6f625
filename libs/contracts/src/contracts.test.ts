import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, ErrorBody, newId, streamOf, TasksTaskCreated } from './index.js';

describe('error codes', () => {
  it('map to the statuses of DESIGN 4', () => {
    expect(ERROR_STATUS).toMatchObject({
      validation_error: 422,
      request_too_large: 413,
      unauthorized: 401,
      expired_token: 401,
      consent_required: 403,
      not_found: 404,
      conflict: 409,
      insufficient_credits: 402,
      quota_exceeded: 429,
      provider_request_failed: 502,
      provider_unavailable: 503,
      provider_timeout: 504,
      internal_error: 500,
    });
  });
  it('reject a code outside the closed list', () => {
    expect(ErrorBody.safeParse({ error: { code: 'oops', message: 'm', request_id: 'r' } }).success).toBe(
      false,
    );
  });
});

describe('newId', () => {
  it('makes RFC 9562 v7 UUIDs that sort by time', () => {
    const a = newId(1_700_000_000_000);
    const b = newId(1_700_000_000_001);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
  });
});

describe('events', () => {
  it('route to the owning stream', () => {
    expect(streamOf('tasks.task.created')).toBe('TASKS');
    expect(streamOf('identity.user.created')).toBe('IDENTITY');
  });
  it('carry no free text: unknown data fields are stripped', () => {
    const parsed = TasksTaskCreated.parse({
      id: newId(),
      type: 'tasks.task.created',
      source: 'tasks',
      time: new Date().toISOString(),
      subject: newId(),
      data: {
        task_id: newId(),
        user_id: newId(),
        priority: 'low',
        has_due_date: false,
        source: 'user',
        title: 'secret',
      },
    });
    expect(JSON.stringify(parsed)).not.toContain('secret');
  });
});
