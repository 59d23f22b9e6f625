/**
 * The breakdown path's hops with none of our code in them: the floor any implementation of the design's
 * topology starts from on a given machine (bench/breakdown.ts measures it as "bare path").
 *
 *   load generator -> gateway (Fastify + @fastify/http-proxy with the gateway's pool size, nothing else)
 *     -> ai (Fastify: a NATS request "reserve", the provider over fetch, a NATS request "commit")
 *       -> usage (a NATS responder that runs one trivial Postgres statement per request).
 *
 * No token checks, no validation, no quotas, no outbox, no telemetry, no logs. Each role runs in its
 * own process: `node --import tsx bench/lib/bare-path.ts <role>`; it prints one JSON line
 * (`{"url": ...}` or `{"ready": true}`) when it serves, and stops on SIGTERM.
 *
 * Env: BARE_NATS_URL, BARE_SUBJECT (subject prefix), BARE_DATABASE_URL (usage), BARE_PROVIDER_URL (ai,
 * the provider's base URL), BARE_AI_URL (gateway).
 */
import { connect } from '@nats-io/transport-node';
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import postgres from 'postgres';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function ready(line: Record<string, unknown>, stop: () => Promise<unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
  const end = () => void stop().finally(() => process.exit(0));
  process.once('SIGTERM', end);
  process.once('SIGINT', end);
}

async function usage(): Promise<void> {
  const sql = postgres(env('BARE_DATABASE_URL'), { max: 4, onnotice: () => {} });
  const nc = await connect({ servers: env('BARE_NATS_URL'), name: 'bare-usage' });
  for (const step of ['reserve', 'commit'])
    nc.subscribe(`${env('BARE_SUBJECT')}.${step}`, {
      queue: 'bare-usage',
      callback: (error, msg) => {
        if (error) return;
        sql`select ${msg.string()}::text as id`.then(
          ([row]) => msg.respond(JSON.stringify({ granted: true, id: row!.id as string })),
          () => msg.respond(JSON.stringify({ granted: false })),
        );
      },
    });
  await sql`select 1`;
  ready({ ready: true }, async () => {
    await nc.drain();
    await sql.end();
  });
}

async function ai(): Promise<void> {
  const nc = await connect({ servers: env('BARE_NATS_URL'), name: 'bare-ai' });
  const subject = env('BARE_SUBJECT');
  const providerUrl = `${env('BARE_PROVIDER_URL')}/chat/completions`;
  const app = Fastify();
  let sequence = 0;
  app.post('/v1/ai/breakdown/generate', async () => {
    const id = `${process.pid}-${sequence++}`;
    await nc.request(`${subject}.reserve`, id, { timeout: 10_000 });
    const res = await fetch(providerUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'bare', messages: [{ role: 'user', content: 'plan' }] }),
    });
    const answer = (await res.json()) as { choices: unknown[] };
    await nc.request(`${subject}.commit`, id, { timeout: 10_000 });
    return { steps: answer.choices };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  ready({ url }, async () => {
    await app.close();
    await nc.drain();
  });
}

async function gateway(): Promise<void> {
  const app = Fastify();
  await app.register(httpProxy, {
    upstream: env('BARE_AI_URL'),
    prefix: '/v1/ai',
    rewritePrefix: '/v1/ai',
    // As the gateway's PROXY_CONNECTIONS default: the library's 128 would cap 500 connections.
    undici: { connections: 1024, pipelining: 1 },
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  ready({ url }, () => app.close());
}

const roles: Record<string, () => Promise<void>> = { usage, ai, gateway };
const role = roles[process.argv[2] ?? ''];
if (!role) throw new Error(`usage: bare-path.ts ${Object.keys(roles).join('|')}`);
await role();
