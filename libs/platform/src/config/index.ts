import { z } from 'zod';

/** Thrown at start-up with one readable line per bad variable. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(service: string, problems: string[]) {
    super(`invalid configuration for ${service}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Parses the environment with a service's own zod schema and fails fast with every problem at once.
 * Empty strings count as unset, so `FOO=` in a shell falls back to the default instead of failing.
 */
export function loadConfig<S extends z.ZodObject>(
  service: string,
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(env))
    if (value !== undefined && value !== '') cleaned[key] = value;
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join('.') || '(root)';
    const got = cleaned[key] === undefined ? 'unset' : 'invalid';
    return `${key}: ${issue.message} (${got})`;
  });
  throw new ConfigError(service, problems);
}

/** Building blocks every service schema reuses. No secret has a default. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  host: () => z.string().default('127.0.0.1'),
  databaseUrl: () => z.url({ protocol: /^postgres(ql)?$/ }).describe('PostgreSQL connection URL'),
  natsUrl: () =>
    z
      .string()
      .regex(/^(nats|tls|ws|wss):\/\/\S+$/, 'expected nats://host:port')
      .default('nats://127.0.0.1:4222'),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  subjectPrefix: () =>
    z
      .string()
      .regex(/^[a-z0-9_-]{0,32}$/, 'lowercase letters, digits, _ or -, at most 32')
      .default('')
      .describe('namespace for NATS subjects and stream names (isolates tests or environments on one NATS)'),
  environment: () => z.string().min(1).max(32).default('development'),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  seconds: (fallback: number) => z.coerce.number().positive().default(fallback),
};

/** Variables every service shares. Each service extends this with its own. */
export const baseServiceEnv = z.object({
  HOST: env.host(),
  LOG_LEVEL: env.logLevel(),
  DATABASE_URL: env.databaseUrl(),
  NATS_URL: env.natsUrl(),
  NATS_SUBJECT_PREFIX: env.subjectPrefix(),
  APP_ENV: env.environment(),
});
