import { randomUUID } from 'node:crypto';
import { startTelemetry, type Telemetry } from '@offload/platform/telemetry';
import {
  buildTestApp,
  eventually,
  fakeReplies,
  startFakeOpenAi,
  type FakeOpenAi,
  type TestApp,
} from '@offload/testing';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiRuntime } from '../src/deps.js';
import { aiService, caller, generate, startFakeUsage, type FakeUsage } from './support.js';

/**
 * Zero retention (DESIGN 7): what the user sends (input text, hints) and what the model answers reach the
 * provider and the client, and nothing else: no log line, no span attribute or event, no outbox row or
 * published event, no table of the database. Checked after a success, a provider error, an invalid model
 * answer, a size rejection and validation errors, with every log level on.
 */
const INPUT_CANARY = `canary-in-${randomUUID()}`;
const HINT_CANARY = `canary-hint-${randomUUID()}`;
const OUTPUT_CANARY = `canary-out-${randomUUID()}`;
const CANARIES = [INPUT_CANARY, HINT_CANARY, OUTPUT_CANARY];

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let t: TestApp<AiRuntime>;
let fake: FakeOpenAi;
let usage: FakeUsage;

const canaryBody = (extra: Record<string, unknown> = {}) => ({
  input_text: `Plan the trip ${INPUT_CANARY}`,
  granularity: 3,
  context_hints: [`budget is tight ${HINT_CANARY}`],
  ...extra,
});

beforeAll(async () => {
  process.env.OTEL_METRICS_EXPORTER = 'none';
  telemetry = startTelemetry({ serviceName: 'ai-test', spanProcessors: [new SimpleSpanProcessor(exporter)] });
  fake = await startFakeOpenAi();
  t = await buildTestApp(aiService, {
    env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.baseUrl, OPENAI_ATTEMPT_TIMEOUT_MS: '500' },
    logLevel: 'trace',
  });
  usage = await startFakeUsage(t.infra);

  const stepsWithCanary = fakeReplies.steps([
    { title: `Book the train ${OUTPUT_CANARY}`, substeps: [{ title: `Pack ${OUTPUT_CANARY}` }] },
  ]);
  const who = () => caller(t);

  // 1. success (the answer carries the output canary back to the client)
  fake.enqueue(stepsWithCanary);
  const success = await generate(t, await who(), canaryBody());
  expect(success.statusCode).toBe(200);
  expect(success.body).toContain(OUTPUT_CANARY);
  // 2. provider error: 500 three times
  fake.enqueue(fakeReplies.serverError(500), fakeReplies.serverError(500), fakeReplies.serverError(500));
  expect((await generate(t, await who(), canaryBody())).statusCode).toBe(502);
  // 3. invalid model answers that quote the output canary
  fake.enqueue(
    fakeReplies.text(`not json ${OUTPUT_CANARY}`),
    fakeReplies.text(`{"steps": "${OUTPUT_CANARY}"}`),
  );
  expect((await generate(t, await who(), canaryBody())).statusCode).toBe(502);
  // 4. validation errors: an unknown field, a hint too long, a bad granularity, broken JSON
  expect(
    (await generate(t, await who(), canaryBody({ [`x_${HINT_CANARY}`]: INPUT_CANARY }))).statusCode,
  ).toBe(422);
  expect(
    (await generate(t, await who(), canaryBody({ context_hints: [`${HINT_CANARY}${'h'.repeat(281)}`] })))
      .statusCode,
  ).toBe(422);
  expect((await generate(t, await who(), canaryBody({ granularity: INPUT_CANARY }))).statusCode).toBe(422);
  const broken = await t.app.inject({
    method: 'POST',
    url: '/v1/ai/breakdown/generate',
    headers: { ...(await who()).headers, 'content-type': 'application/json' },
    payload: `{"input_text": "${INPUT_CANARY}", `,
  });
  expect(broken.statusCode).toBe(422);
  const notJson = await t.app.inject({
    method: 'POST',
    url: '/v1/ai/breakdown/generate',
    headers: { ...(await who()).headers, 'content-type': 'application/json' },
    payload: `${INPUT_CANARY} {}`,
  });
  expect(notJson.statusCode).toBe(422);
  // 5. too large
  expect(
    (await generate(t, await who(), canaryBody({ input_text: `${INPUT_CANARY}${'x'.repeat(4000)}` })))
      .statusCode,
  ).toBe(413);

  // Every event the calls produced is published before we look.
  await t.runtime.relay.flush();
}, 60_000);

afterAll(async () => {
  await t?.close();
  await usage?.close();
  await fake?.close();
  await telemetry?.shutdown();
});

const leaks = (text: string) => CANARIES.filter((canary) => text.includes(canary));

describe('zero retention of prompts and answers', () => {
  it('the canaries did reach the provider (so the checks below are meaningful)', () => {
    expect(fake.receivedText()).toContain(INPUT_CANARY);
    expect(fake.receivedText()).toContain(HINT_CANARY);
  });

  it('appear in no log line, at any level', () => {
    const text = t.logs.text();
    expect(t.logs.lines.length).toBeGreaterThan(10);
    expect(text).toContain('ai request completed');
    expect(leaks(text)).toEqual([]);
    // The summary line carries counts and classes only.
    const summaries = t.logs.parsed().filter((l) => l.msg === 'ai request completed');
    expect(summaries.length).toBe(3);
    for (const line of summaries) {
      expect(line).toMatchObject({ request_id: expect.any(String), input_tokens: expect.any(Number) });
    }
  });

  it('appear in no span name, attribute, event or status', () => {
    const spans = exporter.getFinishedSpans();
    expect(spans.filter((s) => s.name === 'ai.provider.attempt').length).toBe(1 + 3 + 2);
    const dump = JSON.stringify(
      spans.map((s) => ({
        name: s.name,
        attributes: s.attributes,
        events: s.events,
        status: s.status,
        links: s.links,
        resource: s.resource.attributes,
      })),
    );
    expect(leaks(dump)).toEqual([]);
  });

  it('appear in no outbox row and no event on the broker', async () => {
    await t.runtime.background.stop(); // the records are written after the answers
    const rows = await t.runtime.database.sql<{ type: string }[]>`select * from ai.outbox`;
    expect(rows.filter((r) => r.type === 'ai.request.completed')).toHaveLength(3);
    expect(leaks(JSON.stringify(rows))).toEqual([]);

    const { bus } = t.runtime;
    const stream = bus.stream('AI');
    const info = await eventually(async () => {
      const i = await bus.jsm.streams.info(stream);
      return i.state.messages >= 3 ? i : undefined;
    });
    const published: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const msg = await bus.jsm.streams.getMessage(stream, { seq });
      if (msg) published.push(new TextDecoder().decode(msg.data));
    }
    expect(published.length).toBeGreaterThanOrEqual(3);
    expect(leaks(published.join('\n'))).toEqual([]);
  });

  it('appear in no table of the database (every schema dumped)', async () => {
    const sql = postgres(t.infra.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const tables = await sql<{ table_schema: string; table_name: string }[]>`
        select table_schema, table_name from information_schema.tables
        where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`;
      expect(tables.map((r) => `${r.table_schema}.${r.table_name}`)).toContain('ai.outbox');
      for (const { table_schema, table_name } of tables) {
        const rows = await sql`select * from ${sql(table_schema)}.${sql(table_name)}`;
        expect(leaks(JSON.stringify(rows)), `${table_schema}.${table_name}`).toEqual([]);
      }
    } finally {
      await sql.end();
    }
  });

  it('appear in nothing sent to usage', () => {
    expect(usage.calls.length).toBeGreaterThan(0);
    expect(leaks(JSON.stringify(usage.calls))).toEqual([]);
  });
});
