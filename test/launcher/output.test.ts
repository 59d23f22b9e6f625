import { describe, expect, it } from 'vitest';
import { createOutput, formatLine, outputOptionsFor, prefix } from '../../scripts/lib/output.js';
import { redactUrls } from '../../scripts/lib/services.js';

const ESC = '\u001b[';
const line = JSON.stringify({
  level: 'info',
  time: '2026-01-02T03:04:05.678Z',
  service: 'tasks',
  pid: 42,
  request_id: 'abc',
  route: '/v1/tasks/:id',
  status: 200,
  ms: 3.5,
  note: 'two words',
  nested: { a: 1 },
  msg: 'request completed',
});

describe('npm start output', () => {
  it('prefixes every line with a fixed-width name', () => {
    const written: string[] = [];
    const output = createOutput(
      { colour: false, pretty: false, width: 8 },
      { stdout: (s) => written.push(s), stderr: (s) => written.push(`ERR ${s}`) },
    );
    output.line('ai', 'hello');
    output.line('identity', 'oops', 'stderr');
    expect(written).toEqual(['ai       | hello\n', 'ERR identity | oops\n']);
  });

  it('keeps JSON log lines raw and uncoloured when the output is not a terminal', () => {
    const options = outputOptionsFor({ isTTY: false }, {}, 8);
    expect(options).toEqual({ colour: false, pretty: false, width: 8 });
    expect(formatLine(line, options)).toBe(line);
    expect(prefix('tasks', options)).not.toContain(ESC);
  });

  it('pretty-prints JSON log lines on a terminal as time level msg key=value', () => {
    const plain = formatLine(line, { colour: false, pretty: true });
    expect(plain).toBe(
      '03:04:05.678 INFO  request completed request_id=abc route=/v1/tasks/:id status=200 ms=3.5 ' +
        'note="two words" nested={"a":1}',
    );
    const coloured = formatLine(line, { colour: true, pretty: true });
    expect(coloured).toContain(ESC);
    expect(coloured.replace(new RegExp(`${ESC.replace('[', '\\[')}[0-9;]*m`, 'g'), '')).toBe(plain);
  });

  it('colours only on a terminal, and never with NO_COLOR', () => {
    expect(outputOptionsFor({ isTTY: true }, {}, 8)).toEqual({ colour: true, pretty: true, width: 8 });
    expect(outputOptionsFor({ isTTY: true }, { NO_COLOR: '1' }, 8).colour).toBe(false);
    expect(prefix('tasks', { colour: true, width: 8 })).toContain(ESC);
  });

  it('leaves lines that are not JSON log records as they are', () => {
    for (const text of ['plain text', '{not json}', '{"no":"level"}', '  at stack (file.ts:1:2)']) {
      expect(formatLine(text, { colour: false, pretty: true })).toBe(text);
    }
    expect(formatLine('{"level":50,"msg":"boom","time":0}', { colour: false, pretty: true })).toBe(
      '00:00:00.000 ERROR boom',
    );
  });

  it('never prints passwords of connection URLs', () => {
    expect(redactUrls('failed: postgres://app:s3cret@db:5432/offload and nats://u:p@h:4222')).toBe(
      'failed: postgres://app:***@db:5432/offload and nats://u:***@h:4222',
    );
    expect(redactUrls('postgres://postgres@127.0.0.1:5432/postgres')).toBe(
      'postgres://postgres@127.0.0.1:5432/postgres',
    );
  });
});
