import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { BREAKDOWN_LIMITS } from '@offload/contracts';
import { eventually, fakeReplies, startFakeOpenAi, type FakeOpenAi } from '@offload/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anonymousSession, call, type JsonResponse } from '../support/http.js';
import { startSystem, type RunningSystem } from '../support/system.js';

/**
 * Offload's contract (DESIGN 5, 7, 8) driven through the gateway over real HTTP, as a client built for
 * Offload's API would: anonymous session -> breakdown -> usage meters and reconcile, every breakdown
 * guardrail at its limit and one past it, consent, the monthly quota edge, an uncharged provider failure
 * and reconcile semantics. The provider is the fake OpenAI-compatible server; everything else is real
 * (identity, usage, ai and the gateway in this process, Postgres, NATS).
 */
const QUOTA = 3;
const BREAKDOWN = '/v1/ai/breakdown/generate';
const CONSENT = { 'x-offload-cloud-opt-in': 'true' };
const L = BREAKDOWN_LIMITS;

let system: RunningSystem;
let fake: FakeOpenAi;
let url: string;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  system = await startSystem({
    env: {
      OPENAI_API_KEY: 'sk-e2e',
      OPENAI_BASE_URL: fake.baseUrl,
      OPENAI_ATTEMPT_TIMEOUT_MS: '2000',
      // usage: a small monthly quota of AI actions, so the edge is a few calls away.
      FREE_MONTHLY_AI_ACTIONS: String(QUOTA),
      // identity: every session of this file comes from 127.0.0.1 (the gateway's address for it).
      SESSION_RATE_LIMIT_PER_IP: '1000',
    },
  });
  url = system.gatewayUrl;
}, 60_000);

afterAll(async () => {
  await system?.stop();
  await fake?.close();
});

beforeEach(() => fake.reset());

interface Device {
  installId: string;
  token: string;
  userId: string;
}

async function newDevice(): Promise<Device> {
  const installId = `install-${randomUUID()}`;
  const session = await anonymousSession(url, installId);
  return { installId, token: session.session_token, userId: session.user_id };
}

const breakdown = (who: Device, body: unknown, headers: Record<string, string> = CONSENT) =>
  call(url, 'POST', BREAKDOWN, { token: who.token, body, headers });

const validBody = (overrides: Record<string, unknown> = {}) => ({
  input_text: 'Clean the garage before the weekend',
  granularity: 3,
  ...overrides,
});

const text = (n: number, fill = 'x') => fill.repeat(n);

/** The error envelope of DESIGN 4, with the code and status of DESIGN's closed list. */
function expectError(res: JsonResponse, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error).toMatchObject({ code, message: expect.any(String), request_id: expect.any(String) });
  expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
  return res.body.error as {
    code: string;
    details?: { field: string; message: string }[];
    retry_after?: number;
  };
}

function expectValidationError(res: JsonResponse, field: string) {
  const error = expectError(res, 422, 'validation_error');
  expect(error.details?.map((d) => d.field).join(' ')).toContain(field);
}

async function meters(who: Device) {
  const res = await call(url, 'GET', '/v1/usage', { token: who.token });
  expect(res.status).toBe(200);
  return res.body as {
    data: {
      feature: string;
      period: string;
      device_count: number;
      server_count: number;
      quota: number;
      effective_remaining: number;
    }[];
    next_cursor: string | null;
  };
}

/** The breakdown meter of this month, as `GET /v1/usage` shows it (0 when there is none yet). */
async function charged(who: Device): Promise<number> {
  const meter = (await meters(who)).data.find((m) => m.feature === 'ai_breakdown');
  return meter?.server_count ?? 0;
}

const reconcile = (who: Device, body: Record<string, unknown>) =>
  call(url, 'POST', '/v1/usage/reconcile', { token: who.token, body });

const currentPeriod = () => new Date().toISOString().slice(0, 7);

describe('the Offload contract through the gateway', () => {
  it('session -> breakdown -> usage -> reconcile with the exact fields of DESIGN 5, 7 and 8', async () => {
    // DESIGN 5: the anonymous session.
    const installId = `install-${randomUUID()}`;
    const session = await call(url, 'POST', '/v1/sessions/anonymous', {
      body: { install_id: installId, app_version: '2.4.0', platform: 'ios' },
    });
    expect([200, 201]).toContain(session.status);
    expect(Object.keys(session.body).sort()).toEqual([
      'expires_at',
      'refresh_token',
      'session_token',
      'token_type',
      'user_id',
    ]);
    expect(session.body.token_type).toBe('Bearer');
    expect(session.body.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const who: Device = { installId, token: session.body.session_token, userId: session.body.user_id };

    // DESIGN 7: the breakdown. The model over-answers (5 levels); the client gets at most 3.
    fake.enqueue(fakeReplies.fiveLevels(2));
    const res = await breakdown(
      who,
      {
        input_text: 'Plan a birthday party for Sam',
        granularity: 4,
        context_hints: ['budget is small', 'on Saturday'],
        template_ids: ['party', 'shopping'],
        task_id: randomUUID(),
      },
      { ...CONSENT, 'x-request-id': 'req-offload-contract-1' },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-offload-contract-1');
    for (const field of ['steps', 'provider', 'latency_ms', 'usage']) expect(res.body).toHaveProperty(field);
    expect(Object.keys(res.body).sort()).toEqual([
      'latency_ms',
      'prompt_version',
      'provider',
      'steps',
      'usage',
    ]);
    expect(res.body.provider).toBe('openai');
    expect(Number.isInteger(res.body.latency_ms) && res.body.latency_ms >= 0).toBe(true);
    expect(Object.keys(res.body.usage).sort()).toEqual(['input_tokens', 'output_tokens']);
    expect(res.body.usage.input_tokens).toBeGreaterThan(0);
    expect(res.body.prompt_version).toBe('breakdown.v1');
    type Step = { title: string; estimated_minutes?: number; substeps: Step[] };
    const depth = (steps: Step[]): number =>
      steps.length ? 1 + Math.max(...steps.map((s) => depth(s.substeps))) : 0;
    expect(depth(res.body.steps as Step[])).toBe(L.maxStepDepth);
    const first = res.body.steps[0] as Step;
    expect(first.title).toBe('step 1');
    expect(first.estimated_minutes).toBe(5);
    expect(first.substeps[0]!.substeps[0]!.substeps).toEqual([]);
    // What reached the provider: the user's text, once, with the service's own key.
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0]!.headers.authorization).toBe('Bearer sk-e2e');
    expect(fake.receivedText()).toContain('Plan a birthday party for Sam');
    expect(fake.receivedText()).toContain('on Saturday');

    // DESIGN 8: the meter the call was charged to.
    const usage = await meters(who);
    expect(usage.next_cursor).toBeNull();
    expect(usage.data).toEqual([
      {
        feature: 'ai_breakdown',
        period: currentPeriod(),
        device_count: 1,
        server_count: 1,
        quota: QUOTA,
        effective_remaining: QUOTA - 1,
      },
    ]);

    // DESIGN 8: reconcile of the device's own count; the server's charge is already in it.
    const reconciled = await reconcile(who, {
      install_id: installId,
      feature: 'ai_breakdown',
      local_count: 0,
      since: `${currentPeriod()}-01T00:00:00Z`,
    });
    expect(reconciled.status, JSON.stringify(reconciled.body)).toBe(200);
    expect(Object.keys(reconciled.body).sort()).toEqual([
      'effective_remaining',
      'reconciled_at',
      'server_count',
    ]);
    expect(reconciled.body).toMatchObject({ server_count: 1, effective_remaining: QUOTA - 1 });
    expect(reconciled.body.reconciled_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });
});

describe('breakdown guardrails through the gateway, each at its limit and one past it', () => {
  it(`context_hints: ${L.maxContextHints} hints pass, ${L.maxContextHints + 1} are 422; a hint of ${L.maxContextHintChars} chars passes, ${L.maxContextHintChars + 1} is 422`, async () => {
    const who = await newDevice();
    const hints = (n: number) => Array.from({ length: n }, (_, i) => `hint ${i}`);

    expect((await breakdown(who, validBody({ context_hints: hints(L.maxContextHints) }))).status).toBe(200);
    expectValidationError(
      await breakdown(who, validBody({ context_hints: hints(L.maxContextHints + 1) })),
      'context_hints',
    );
    const atLimit = await breakdown(who, validBody({ context_hints: [text(L.maxContextHintChars, 'h')] }));
    expect(atLimit.status).toBe(200);
    expectValidationError(
      await breakdown(who, validBody({ context_hints: [text(L.maxContextHintChars + 1, 'h')] })),
      'context_hints.0',
    );
    // An empty hint is not a hint (1-280 chars).
    expectValidationError(await breakdown(who, validBody({ context_hints: [''] })), 'context_hints.0');

    // Only the calls within the limits reached the provider, and only they were charged.
    expect(fake.received).toHaveLength(2);
    expect(fake.receivedText()).toContain(text(L.maxContextHintChars, 'h'));
    expect(await charged(who)).toBe(2);
  });

  it(`template_ids: ${L.maxTemplateIds} ids pass, ${L.maxTemplateIds + 1} are 422; an id of ${L.maxTemplateIdChars} chars passes, ${L.maxTemplateIdChars + 1} is 422`, async () => {
    const who = await newDevice();
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `template-${i}`);

    expect((await breakdown(who, validBody({ template_ids: ids(L.maxTemplateIds) }))).status).toBe(200);
    expectValidationError(
      await breakdown(who, validBody({ template_ids: ids(L.maxTemplateIds + 1) })),
      'template_ids',
    );
    expect(
      (await breakdown(who, validBody({ template_ids: [text(L.maxTemplateIdChars, 't')] }))).status,
    ).toBe(200);
    expectValidationError(
      await breakdown(who, validBody({ template_ids: [text(L.maxTemplateIdChars + 1, 't')] })),
      'template_ids.0',
    );
    expect(fake.received).toHaveLength(2);
    expect(await charged(who)).toBe(2);
  });

  it(`the sum of all text: ${L.defaultMaxInputChars} chars pass, ${L.defaultMaxInputChars + 1} are 413 request_too_large`, async () => {
    const who = await newDevice();
    // input + hint + template id, so the sum (not any one field) is what is limited.
    const body = (total: number) =>
      validBody({
        input_text: text(total - L.maxContextHintChars - L.maxTemplateIdChars, 'i'),
        context_hints: [text(L.maxContextHintChars, 'h')],
        template_ids: [text(L.maxTemplateIdChars, 't')],
      });

    expect((await breakdown(who, body(L.defaultMaxInputChars))).status).toBe(200);
    expectError(await breakdown(who, body(L.defaultMaxInputChars + 1)), 413, 'request_too_large');
    // The input alone, too.
    expectError(
      await breakdown(who, validBody({ input_text: text(L.defaultMaxInputChars + 1, 'i') })),
      413,
      'request_too_large',
    );
    expect(fake.received).toHaveLength(1);
    expect(await charged(who)).toBe(1);
  });

  it('granularity 0 and 6 are 422, 1 and 5 pass; an unknown field is 422', async () => {
    const who = await newDevice();

    expectValidationError(await breakdown(who, validBody({ granularity: 0 })), 'granularity');
    expect((await breakdown(who, validBody({ granularity: 1 }))).status).toBe(200);
    expect((await breakdown(who, validBody({ granularity: 5 }))).status).toBe(200);
    expectValidationError(await breakdown(who, validBody({ granularity: 6 })), 'granularity');
    expectValidationError(await breakdown(who, validBody({ granularity: 2.5 })), 'granularity');
    expectValidationError(await breakdown(who, validBody({ context: 'unknown field' })), 'context');
    expectValidationError(await breakdown(who, { granularity: 3 }), 'input_text');

    // Granularity changes the prompt the provider gets (1 = main steps only ... 5 = micro-steps).
    expect(fake.received).toHaveLength(2);
    const [coarse, fine] = fake.received.map((r) => JSON.stringify(r.body?.messages));
    expect(coarse).not.toEqual(fine);
    expect(await charged(who)).toBe(2);
  });
});

describe('consent, quota and charging through the gateway', () => {
  it('without X-Offload-Cloud-Opt-In: true the answer is 403 consent_required, nothing reserved or sent', async () => {
    const who = await newDevice();
    expectError(await breakdown(who, validBody(), {}), 403, 'consent_required');
    expectError(
      await breakdown(who, validBody(), { 'x-offload-cloud-opt-in': 'false' }),
      403,
      'consent_required',
    );
    expectError(
      await breakdown(who, validBody(), { 'x-offload-cloud-opt-in': '1' }),
      403,
      'consent_required',
    );
    expect(fake.received).toHaveLength(0);
    expect((await meters(who)).data).toEqual([]);
    const holds = await system.sql`select 1 from usage.reservations where user_id = ${who.userId}`;
    expect(holds).toHaveLength(0);
    // The header's value is case-insensitive.
    expect((await breakdown(who, validBody(), { 'x-offload-cloud-opt-in': 'TRUE' })).status).toBe(200);
  });

  it(`with FREE_MONTHLY_AI_ACTIONS=${QUOTA}, breakdown ${QUOTA + 1} of the month is 429 quota_exceeded and never reaches the provider`, async () => {
    const who = await newDevice();
    for (let i = 0; i < QUOTA; i++) expect((await breakdown(who, validBody())).status).toBe(200);
    const denied = await breakdown(who, validBody());
    const error = expectError(denied, 429, 'quota_exceeded');
    // retry_after: seconds until the next UTC month starts.
    const now = new Date();
    const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(error.retry_after).toBeGreaterThan(0);
    expect(Math.abs(now.getTime() + error.retry_after! * 1000 - nextMonth)).toBeLessThan(5_000);
    expect(denied.headers.get('retry-after')).toBe(String(error.retry_after));
    expect(fake.received).toHaveLength(QUOTA);

    // The quota is checked before the body: a bad body past the quota is still 429.
    expectError(await breakdown(who, { granularity: 9 }), 429, 'quota_exceeded');
    const [meter] = (await meters(who)).data;
    expect(meter).toMatchObject({ feature: 'ai_breakdown', server_count: QUOTA, effective_remaining: 0 });
  });

  it('a failed provider call (500 three times -> 502) is not charged, and the quota it held comes back', async () => {
    const who = await newDevice();
    expect((await breakdown(who, validBody())).status).toBe(200);

    fake.reset();
    fake.enqueue(fakeReplies.serverError(500), fakeReplies.serverError(500), fakeReplies.serverError(500));
    expectError(await breakdown(who, validBody()), 502, 'provider_request_failed');
    expect(fake.received).toHaveLength(3);
    expect(await charged(who)).toBe(1);
    const statuses = await system.sql<{ status: string }[]>`
      select status from usage.reservations where user_id = ${who.userId} order by created_at`;
    expect(statuses.map((r) => r.status)).toEqual(['committed', 'released']);

    // What was held for the failed call is available again: two more calls fit in the quota of 3.
    expect((await breakdown(who, validBody())).status).toBe(200);
    expect((await breakdown(who, validBody())).status).toBe(200);
    expect(await charged(who)).toBe(QUOTA);
  });

  it('a client that hangs up at the gateway cancels the provider call, and the unit it held comes back', async () => {
    const who = await newDevice();
    fake.setDefault(fakeReplies.hang());
    const req = httpRequest(`${url}${BREAKDOWN}`, {
      method: 'POST',
      headers: { ...CONSENT, authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify(validBody()));
    await eventually(async () => fake.received.length === 1, 10_000, 10);
    const hungUpAt = performance.now();
    req.destroy();

    // ai's provider request is aborted long before its 2 s attempt timeout, and not retried.
    await eventually(async () => fake.received[0]!.closedByClient, 5_000, 10);
    expect(performance.now() - hungUpAt).toBeLessThan(1_500);
    await eventually(async () => {
      const rows = await system.sql<{ status: string }[]>`
        select status from usage.reservations where user_id = ${who.userId}`;
      return rows.length === 1 && rows[0]!.status === 'released';
    }, 5_000);
    expect(fake.received).toHaveLength(1);
    expect(await charged(who)).toBe(0);
  });
});

describe('reconcile through the gateway', () => {
  it('stores the max of the device count, never decreases it, and the result counts against the quota', async () => {
    const who = await newDevice();
    const at = (local_count: number) =>
      reconcile(who, { install_id: who.installId, feature: 'ai_breakdown', local_count });

    let res = await at(1);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ server_count: 1, effective_remaining: QUOTA - 1 });
    // The server charges a breakdown to the same device meter.
    expect((await breakdown(who, validBody())).status).toBe(200);
    res = await at(1);
    expect(res.body).toMatchObject({ server_count: 2, effective_remaining: QUOTA - 2 });
    // Lower or equal local counts never lower the server count; replays change nothing.
    res = await at(0);
    expect(res.body).toMatchObject({ server_count: 2, effective_remaining: QUOTA - 2 });
    res = await at(2);
    expect(res.body).toMatchObject({ server_count: 2, effective_remaining: QUOTA - 2 });
    // A higher one wins; the remainder never goes below 0.
    res = await at(QUOTA + 4);
    expect(res.body).toMatchObject({ server_count: QUOTA + 4, effective_remaining: 0 });
    res = await at(1);
    expect(res.body).toMatchObject({ server_count: QUOTA + 4, effective_remaining: 0 });
    // Reconciled local use counts against the monthly quota of server calls.
    expectError(await breakdown(who, validBody()), 429, 'quota_exceeded');
    expect(await charged(who)).toBe(QUOTA + 4);

    // Concurrent reconciles of one device leave exactly the maximum.
    const counts = Array.from({ length: 20 }, () => 10 + Math.floor(Math.random() * 1000));
    const results = await Promise.all(
      counts.map((local_count) =>
        reconcile(who, { install_id: who.installId, feature: 'focus_sessions', local_count }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(counts.map(() => 200));
    const focus = (await meters(who)).data.find((m) => m.feature === 'focus_sessions');
    expect(focus?.server_count).toBe(Math.max(...counts));
  });

  it('answers 403 install_id_mismatch for another device’s install id, and 422 for an unknown field', async () => {
    const who = await newDevice();
    expect(
      (await reconcile(who, { install_id: who.installId, feature: 'ai_breakdown', local_count: 1 })).status,
    ).toBe(200);
    expectError(
      await reconcile(who, {
        install_id: `install-${randomUUID()}`,
        feature: 'ai_breakdown',
        local_count: 3,
      }),
      403,
      'install_id_mismatch',
    );
    expectValidationError(
      await reconcile(who, { install_id: who.installId, feature: 'ai_breakdown', local_count: 1, extra: 1 }),
      'extra',
    );
    expectValidationError(
      await reconcile(who, { install_id: who.installId, feature: 'ai_breakdown', local_count: -1 }),
      'local_count',
    );
    // Nothing of the refused calls was stored.
    expect(await charged(who)).toBe(1);
    // And without a token, the gateway refuses before usage sees anything.
    const anonymous = await call(url, 'POST', '/v1/usage/reconcile', {
      body: { install_id: who.installId, feature: 'ai_breakdown', local_count: 9 },
    });
    expectError(anonymous, 401, 'unauthorized');
    expect(await charged(who)).toBe(1);
  });
});
