import { describe, expect, it } from 'vitest';
import { createBackgroundTasks } from './index.js';

describe('createBackgroundTasks', () => {
  it('runs without the caller waiting, and stop() waits for every task, failed ones included', async () => {
    const tasks = createBackgroundTasks();
    const done: string[] = [];
    const errors: unknown[] = [];
    tasks.run(
      async () => {
        await new Promise((r) => setTimeout(r, 30));
        done.push('slow');
      },
      (e) => errors.push(e),
    );
    tasks.run(
      async () => {
        throw new Error('boom');
      },
      (e) => errors.push(e),
    );
    expect(done).toEqual([]);
    expect(tasks.pending()).toBe(2);
    await tasks.stop();
    expect(done).toEqual(['slow']);
    expect(errors).toHaveLength(1);
    expect(tasks.pending()).toBe(0);
  });

  it('waits for a task started while it was stopping', async () => {
    const tasks = createBackgroundTasks();
    const done: number[] = [];
    tasks.run(
      async () => {
        await new Promise((r) => setTimeout(r, 10));
        tasks.run(
          async () => {
            await new Promise((r) => setTimeout(r, 10));
            done.push(2);
          },
          () => undefined,
        );
        done.push(1);
      },
      () => undefined,
    );
    await tasks.stop();
    expect(done).toEqual([1, 2]);
  });
});
