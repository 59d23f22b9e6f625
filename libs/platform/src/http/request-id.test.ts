import { describe, expect, it } from 'vitest';
import { requestIdFrom } from './request-id.js';

describe('requestIdFrom', () => {
  it('echoes a sane client id', () => {
    expect(requestIdFrom('req-12345678')).toBe('req-12345678');
  });
  it.each([
    ['a newline (header injection)', 'abc12345\r\nSet-Cookie: x=1'],
    ['10 kB', 'a'.repeat(10_000)],
    ['129 characters', 'a'.repeat(129)],
    ['too short', 'abc'],
    ['spaces', 'abc def ghi'],
  ])('replaces one with %s', (_name, value) => {
    const id = requestIdFrom(value);
    expect(id).not.toBe(value);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });
  it('accepts 128 characters, the limit', () => {
    expect(requestIdFrom('a'.repeat(128))).toBe('a'.repeat(128));
  });
  it('generates one when absent', () => {
    expect(requestIdFrom(undefined)).toMatch(/^[0-9a-f-]{36}$/);
  });
});
