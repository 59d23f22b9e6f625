import { randomUUID } from 'node:crypto';
import { createLogger } from '@offload/platform/logger';
import { connectBus, type Bus } from '@offload/platform/nats';
import { startTelemetry } from '@offload/platform/telemetry';
import { eventually, fakeReplies, LogCapture, startFakeOpenAi, type FakeOpenAi } from '@offload/testing';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymousSession, call } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

/**
 * Zero retention across the whole system (DESIGN 7): what a user sends to the breakdown (input text,
 * hints) and what the model answers reach the provider and the client, and nothing else. The calls go
 * through the gateway to every real service; afterwards no log line of any service (every level on), no
 * span (name, attribute, status, event, link), no NATS message (events, RPCs, replies, every stream) and
 * no row of any table of any schema holds a canary. Checked after a success, a provider error and
 * validation errors (plus a size rejection).
 */
const INPUT_CANARY = `CANARYIN${randomUUID().replace(/-/g, '')}`;
const HINT_CANARY = `CANARYHINT${randomUUID().replace(/-/g, '')}`;
const OUTPUT_CANARY = `CANARYOUT${randomUUID().replace(/-/g, '')}`;
const CANARIES = [INPUT_CANARY, HINT_CANARY, OUTPUT_CANARY];
const leaks = (text: string) => CANARIES.filter((canary) => text.includes(canary));

const exporter = new InMemorySpanExporter();
const telemetry = startTelemetry({
  serviceName: 'e2e-zero-retention',
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const logs = new LogCapture();
let system: RunningSystem;
let fake: FakeOpenAi;
let bus: Bus;

/** Every NATS message seen on the system's subjects and on reply inboxes: how many, and any with a canary. */
const nats = { seen: 0, subjects: new Set<string>(), leaked: [] as string[] };
const statuses: Record<string, number> = {};

const canaryBody = (extra: Record<string, unknown> = {}) => ({
  input_text: `Plan the trip ${INPUT_CANARY}`,
  granularity: 3,
  context_hints: [`budget is tight ${HINT_CANARY}`, HINT_CANARY],
  ...extra,
});

beforeAll(async () => {
  fake = await startFakeOpenAi();
  system = await startSystem({
    logs,
    logLevel: 'trace',
    env: { OPENAI_API_KEY: 'sk-e2e', OPENAI_BASE_URL: fake.baseUrl, OPENAI_ATTEMPT_TIMEOUT_MS: '2000' },
  });
  const { natsUrl, natsPrefix } = system.infra;
  bus = await connectBus({
    url: natsUrl,
    name: 'zero-retention-listener',
    prefix: natsPrefix,
    logger: createLogger({ service: 'listener', destination: new LogCapture() }),
  });
  const decoder = new TextDecoder();
  for (const subject of [`${natsPrefix}.>`, '_INBOX.>']) {
    bus.nc.subscribe(subject, {
      callback: (_err, msg) => {
        // Other test files share the broker: count only this system's traffic, but grep everything.
        if (msg.subject.startsWith(`${natsPrefix}.`)) {
          nats.seen++;
          nats.subjects.add(msg.subject.slice(natsPrefix.length + 1));
        }
        const text = `${msg.subject} ${JSON.stringify(msg.headers ?? {})} ${decoder.decode(msg.data)}`;
        if (leaks(text).length) nats.leaked.push(text);
      },
    });
  }
  await bus.nc.flush();

  const url = system.gatewayUrl;
  const session = await anonymousSession(url, `install-${randomUUID()}`);
  const post = async (name: string, body: unknown, raw = false) => {
    const res = raw
      ? await fetch(`${url}/v1/ai/breakdown/generate`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${session.session_token}`,
            'x-offload-cloud-opt-in': 'true',
            'content-type': 'application/json',
          },
          body: body as string,
        }).then(async (r) => ({ status: r.status, body: await r.text() }))
      : await call(url, 'POST', '/v1/ai/breakdown/generate', {
          token: session.session_token,
          body,
          headers: { 'x-offload-cloud-opt-in': 'true' },
        });
    statuses[name] = res.status;
    return res;
  };

  // 1. a successful call; the answer carries the output canary back to the client
  fake.enqueue(
    fakeReplies.steps([
      {
        title: `Book the train ${OUTPUT_CANARY}`,
        substeps: [{ title: `Pack ${OUTPUT_CANARY}`, substeps: [] }],
      },
    ]),
  );
  const success = await post('success', canaryBody());
  expect(JSON.stringify(success.body)).toContain(OUTPUT_CANARY);
  // 2. a provider error: 500 three times -> 502
  fake.enqueue(fakeReplies.serverError(500), fakeReplies.serverError(500), fakeReplies.serverError(500));
  await post('provider error', canaryBody());
  // 3. an invalid model answer quoting the canaries twice -> 502 provider_invalid_response
  fake.enqueue(
    fakeReplies.text(`not json ${OUTPUT_CANARY}`),
    fakeReplies.text(`{"steps": "${OUTPUT_CANARY}"}`),
  );
  await post('invalid answer', canaryBody());
  // 4. validation errors: an unknown field named after a canary, a hint too long, a granularity that is
  //    text, and bodies that are not JSON
  await post('unknown field', canaryBody({ [`x_${HINT_CANARY}`]: INPUT_CANARY }));
  await post('hint too long', canaryBody({ context_hints: [`${HINT_CANARY}${'h'.repeat(281)}`] }));
  await post('granularity is text', canaryBody({ granularity: INPUT_CANARY }));
  await post('broken JSON', `{"input_text": "${INPUT_CANARY}", `, true);
  await post('not JSON', `${INPUT_CANARY} {}`, true);
  // 5. too large -> 413
  await post('too large', canaryBody({ input_text: `${INPUT_CANARY}${'x'.repeat(4000)}` }));

  // Everything the calls caused has settled: the AI events are on their stream, the usage holds settled.
  await eventually(async () => {
    const info = await bus.jsm.streams.info(bus.stream('AI'));
    return info.state.messages >= 3;
  }, 15_000);
  await eventually(async () => {
    const [row] = await system.sql<{ n: number }[]>`
      select count(*)::int as n from usage.reservations where status = 'held'`;
    return row!.n === 0;
  }, 15_000);
  await new Promise((r) => setTimeout(r, 300));
}, 90_000);

afterAll(async () => {
  await bus?.close();
  await system?.stop();
  await fake?.close();
  await telemetry.shutdown();
});

describe('zero retention through the whole system', () => {
  it('the calls got the answers they should (so the checks below see real traffic)', () => {
    expect(statuses).toEqual({
      success: 200,
      'provider error': 502,
      'invalid answer': 502,
      'unknown field': 422,
      'hint too long': 422,
      'granularity is text': 422,
      'broken JSON': 422,
      'not JSON': 422,
      'too large': 413,
    });
    // The canaries did reach the provider: 1 + 3 + 2 attempts.
    expect(fake.received).toHaveLength(6);
    expect(fake.receivedText()).toContain(INPUT_CANARY);
    expect(fake.receivedText()).toContain(HINT_CANARY);
  });

  it('appear in no log line of any service, at any level', () => {
    const text = logs.text();
    for (const service of ['gateway', 'identity', 'usage', 'ai'])
      expect(text, `${service} logged`).toContain(`"service":"${service}"`);
    expect(logs.parsed().filter((l) => l.msg === 'ai request completed')).toHaveLength(3);
    // Errors and warnings (the failed calls) are in it too.
    expect(logs.parsed().some((l) => l.level === 'warn')).toBe(true);
    expect(leaks(text)).toEqual([]);
  });

  it('appear in no span: name, attribute, status, event or link', () => {
    const spans = exporter.getFinishedSpans();
    const names = spans.map((s) => s.name);
    expect(names.filter((n) => n === 'ai.provider.attempt')).toHaveLength(6);
    expect(names).toContain('ai.breakdown.generate');
    expect(names.some((n) => n.startsWith('publish ai.'))).toBe(true);
    const dump = JSON.stringify(
      spans.map((s) => ({
        name: s.name,
        attributes: s.attributes,
        status: s.status,
        events: s.events,
        links: s.links,
        resource: s.resource.attributes,
      })),
    );
    expect(leaks(dump)).toEqual([]);
  });

  it('appear in no NATS message: events, usage RPCs, replies and every stream of the system', async () => {
    // The listener saw the system's traffic: the AI events and the usage reservations.
    expect(nats.subjects).toContain('ai.request.completed');
    expect(nats.subjects).toContain('rpc.usage.reserve');
    expect(nats.subjects).toContain('rpc.usage.commit');
    expect(nats.subjects).toContain('rpc.usage.release');
    expect(nats.leaked).toEqual([]);

    const decoder = new TextDecoder();
    const streamPrefix = bus.stream('AI').slice(0, -'AI'.length);
    let stored = 0;
    for await (const stream of bus.jsm.streams.list()) {
      if (!stream.config.name.startsWith(streamPrefix) || stream.state.messages === 0) continue;
      for (let seq = stream.state.first_seq; seq <= stream.state.last_seq; seq++) {
        const msg = await bus.jsm.streams.getMessage(stream.config.name, { seq }).catch(() => null);
        if (!msg) continue;
        stored++;
        const text = `${msg.subject} ${JSON.stringify(msg.header ?? {})} ${decoder.decode(msg.data)}`;
        expect(leaks(text), `${stream.config.name} #${seq}`).toEqual([]);
      }
    }
    // identity.user.created and the three ai.request.completed at least.
    expect(stored).toBeGreaterThanOrEqual(4);
  });

  it('appear in no row of any table of any schema', async () => {
    const tables = await system.sql<{ schema: string; name: string }[]>`
      select table_schema as schema, table_name as name from information_schema.tables
      where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
      order by 1, 2`;
    const names = tables.map((t) => `${t.schema}.${t.name}`);
    for (const expected of ['ai.outbox', 'usage.reservations', 'usage.meters', 'identity.users'])
      expect(names).toContain(expected);
    let rows = 0;
    for (const { schema, name } of tables) {
      const dump = await system.sql<{ row: string }[]>`
        select t::text as row from ${system.sql(schema)}.${system.sql(name)} t`;
      rows += dump.length;
      expect(leaks(dump.map((r) => r.row).join('\n')), `${schema}.${name}`).toEqual([]);
    }
    // The calls left rows behind (outbox events, reservations, meters), just none with the canaries.
    const [outbox] = await system.sql<{ n: number }[]>`
      select count(*)::int as n from ai.outbox where type = 'ai.request.completed'`;
    expect(outbox!.n).toBe(3);
    expect(rows).toBeGreaterThan(10);
  });
});
