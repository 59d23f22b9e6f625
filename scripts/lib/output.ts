/**
 * How npm start shows the output of many processes in one terminal: every line gets a fixed-width
 * service name in front (coloured on a TTY); on a TTY, pino's JSON lines become `time level msg
 * key=value`; elsewhere (CI, a pipe, a file) the JSON stays as it is, so tools can still parse it.
 */

const RESET = '\u001b[0m';
const DIM = '\u001b[2m';
const BOLD = '\u001b[1m';

const NAME_COLOURS: Record<string, string> = {
  launcher: '\u001b[1;37m',
  gateway: '\u001b[35m',
  identity: '\u001b[36m',
  usage: '\u001b[33m',
  tasks: '\u001b[32m',
  ai: '\u001b[34m',
  billing: '\u001b[95m',
  voice: '\u001b[96m',
};
const FALLBACK_COLOURS = ['\u001b[91m', '\u001b[92m', '\u001b[93m', '\u001b[94m'];

const LEVEL_COLOURS: Record<string, string> = {
  fatal: '\u001b[41;97m',
  error: '\u001b[31m',
  warn: '\u001b[33m',
  info: '\u001b[32m',
  debug: '\u001b[90m',
  trace: '\u001b[90m',
};

/** pino's numeric levels, for lines logged without the label formatter. */
const PINO_LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Keys the prefix or the line itself already shows. */
const HIDDEN_KEYS = new Set(['time', 'level', 'msg', 'message', 'service', 'pid', 'hostname', 'v']);

export interface OutputOptions {
  /** Colours (ANSI escapes) in prefixes and levels. */
  colour: boolean;
  /** Turn JSON log lines into `time level msg key=value`. */
  pretty: boolean;
  /** Width of the name column. */
  width: number;
}

export interface Output {
  /** Writes one line of a process's output, prefixed with its name. */
  line(name: string, text: string, stream?: 'stdout' | 'stderr'): void;
  /** Writes text as it is (the banner). */
  raw(text: string): void;
}

/** Decides colour and pretty-printing from the terminal: only a TTY gets either; NO_COLOR wins. */
export function outputOptionsFor(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv,
  width: number,
): OutputOptions {
  const tty = stream.isTTY === true;
  return { colour: tty && !env.NO_COLOR, pretty: tty, width };
}

export function createOutput(
  options: OutputOptions,
  write: { stdout: (s: string) => void; stderr: (s: string) => void },
): Output {
  return {
    line(name, text, stream = 'stdout') {
      write[stream](`${prefix(name, options)}${formatLine(text, options)}\n`);
    },
    raw(text) {
      write.stdout(text);
    },
  };
}

export function prefix(name: string, options: Pick<OutputOptions, 'colour' | 'width'>): string {
  const padded = name.padEnd(options.width);
  if (!options.colour) return `${padded} | `;
  return `${colourOf(name)}${padded}${RESET} ${DIM}|${RESET} `;
}

function colourOf(name: string): string {
  const known = NAME_COLOURS[name];
  if (known) return known;
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return FALLBACK_COLOURS[hash % FALLBACK_COLOURS.length]!;
}

/** One output line: pretty when asked and when it is a JSON log line, else untouched. */
export function formatLine(text: string, options: Pick<OutputOptions, 'colour' | 'pretty'>): string {
  if (!options.pretty) return text;
  const record = parseLogRecord(text);
  return record ? prettyRecord(record, options.colour) : text;
}

function parseLogRecord(text: string): Record<string, unknown> | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (value && typeof value === 'object' && !Array.isArray(value) && 'level' in value) {
      return value as Record<string, unknown>;
    }
  } catch {
    // not JSON after all: shown as it is
  }
  return undefined;
}

/** `12:04:05.123 INFO  request completed method=GET route=/v1/tasks status=200 ms=3.1` */
export function prettyRecord(record: Record<string, unknown>, colour: boolean): string {
  const level = levelOf(record.level);
  const levelText = level.toUpperCase().padEnd(5);
  const paint = (code: string | undefined, s: string) => (colour && code ? `${code}${s}${RESET}` : s);
  const message = String(record.msg ?? record.message ?? '');
  const fields = Object.entries(record)
    .filter(([key, value]) => !HIDDEN_KEYS.has(key) && value !== undefined)
    .map(([key, value]) => `${paint(DIM, `${key}=`)}${formatValue(value)}`);
  return [
    paint(DIM, timeOf(record.time)),
    paint(LEVEL_COLOURS[level], levelText),
    paint(level === 'error' || level === 'fatal' ? BOLD : undefined, message),
    ...fields,
  ]
    .filter((part) => part !== '')
    .join(' ');
}

function levelOf(level: unknown): string {
  if (typeof level === 'number') return PINO_LEVELS[level] ?? String(level);
  return typeof level === 'string' ? level : 'info';
}

/** `HH:MM:SS.mmm` (UTC, like the logs themselves) from an ISO string or epoch milliseconds. */
function timeOf(time: unknown): string {
  if (typeof time === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(time)) return time.slice(11, 23);
  if (typeof time === 'number') return new Date(time).toISOString().slice(11, 23);
  return '';
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}
