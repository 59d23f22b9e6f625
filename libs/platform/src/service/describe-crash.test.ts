import { describe, expect, it } from 'vitest';
import { describeCrash } from './index.js';

describe('describeCrash', () => {
  it('keeps the class, the code and the frames, and drops the message that may quote input', () => {
    const error = Object.assign(new Error('listen EADDRINUSE for "secret title"'), { code: 'EADDRINUSE' });
    const described = describeCrash(error);
    expect(described.error).toBe('Error');
    expect(described.code).toBe('EADDRINUSE');
    expect(described.frames.length).toBeGreaterThan(0);
    expect(described.frames.every((frame) => frame.startsWith('at '))).toBe(true);
    expect(JSON.stringify(described)).not.toContain('secret title');
  });

  it('leaves out a code that is not a string', () => {
    const error = Object.assign(new TypeError('x'), { code: 42 });
    expect(describeCrash(error)).not.toHaveProperty('code');
  });
});
