import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { randomBytes, type webcrypto } from 'node:crypto';
import type { Jwks } from '@offload/contracts';
import type { JwksSource } from '@offload/platform/auth';
import type { App } from '@offload/platform/http';
import { createLogger } from '@offload/platform/logger';
import { createTestSigner, LogCapture } from '@offload/testing';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, inject } from 'vitest';
import { WebSocketServer } from 'ws';
import { buildGatewayApp } from '../src/app.js';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayRuntime, type GatewayRuntime } from '../src/deps.js';
import type { ProxyRoute } from '../src/domain/routes.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface Upstream {
  name: string;
  url: string;
  seen: SeenRequest[];
  /** WebSocket handshakes the upstream accepted (voice-like upstreams only). */
  upgrades: SeenRequest[];
  /** Replaces the echo for the next requests; return undefined to fall back to the echo. */
  override: ((request: FastifyRequest, reply: FastifyReply) => Promise<unknown> | undefined) | undefined;
  /** Status of `/health/ready`, or 'hang' to never answer. */
  ready: number | 'hang';
  /** What `GET /openapi.json` answers: a document, or a status code (e.g. 503) to refuse. */
  openapi: object | number;
  close(): Promise<void>;
}

/**
 * A small stand-in for a service: answers every method and path with what it received (method, url,
 * headers, body), serves `/health/ready`, and optionally echoes WebSocket messages.
 */
export async function startUpstream(name: string, options: { websocket?: boolean } = {}): Promise<Upstream> {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  const upstream: Upstream = {
    name,
    url: '',
    seen: [],
    upgrades: [],
    override: undefined,
    ready: 200,
    openapi: 404,
    close: async () => {
      wss?.close();
      await app.close();
    },
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.get('/health/ready', async (_request, reply) => {
    if (upstream.ready === 'hang') return new Promise(() => undefined);
    return reply.code(upstream.ready).send({ status: upstream.ready === 200 ? 'ok' : 'down', service: name });
  });
  app.get('/openapi.json', async (_request, reply) =>
    typeof upstream.openapi === 'number'
      ? reply.code(upstream.openapi).send({ error: 'no document' })
      : upstream.openapi,
  );
  app.all('/*', async (request, reply) => {
    upstream.seen.push({
      method: request.method,
      url: request.url,
      headers: request.headers,
      rawHeaders: request.raw.rawHeaders,
      body: typeof request.body === 'string' ? request.body : '',
    });
    const custom = upstream.override ? await upstream.override(request, reply) : undefined;
    if (custom !== undefined || reply.sent) return custom;
    return { service: name, method: request.method, url: request.url, headers: request.headers };
  });
  let wss: WebSocketServer | undefined;
  if (options.websocket) {
    wss = new WebSocketServer({ noServer: true });
    app.server.on('upgrade', (req, socket, head) => {
      upstream.upgrades.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: '',
      });
      wss!.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, binary) => ws.send(binary ? data : `${name}:${String(data)}`));
      });
    });
  }
  upstream.url = await app.listen({ port: 0, host: '127.0.0.1' });
  return upstream;
}

export async function startUpstreams(): Promise<Record<string, Upstream>> {
  const names = ['identity', 'ai', 'usage', 'tasks', 'billing', 'voice'];
  const list = await Promise.all(names.map((n) => startUpstream(n, { websocket: n === 'voice' })));
  return Object.fromEntries(list.map((u) => [u.name, u]));
}

/** Env for the gateway pointing every service URL at the given upstreams. */
export function upstreamEnv(upstreams: Record<string, { url: string }>): Record<string, string> {
  return {
    IDENTITY_URL: upstreams.identity!.url,
    AI_URL: upstreams.ai!.url,
    USAGE_URL: upstreams.usage!.url,
    TASKS_URL: upstreams.tasks!.url,
    BILLING_URL: upstreams.billing!.url,
    VOICE_URL: upstreams.voice!.url,
  };
}

export interface JwksServer {
  url: string;
  /** The key sets served, changed by tests to rotate keys. */
  keys: Jwks['keys'];
  fetches: number;
  close(): Promise<void>;
}

/** identity's JWKS route, as far as the gateway can tell: an HTTP endpoint counting its fetches. */
export async function startJwksServer(keys: Jwks['keys']): Promise<JwksServer> {
  const state: JwksServer = { url: '', keys, fetches: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/v1/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    state.fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/.well-known/jwks.json`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

const b64url = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');

/**
 * Signs a JWT by hand, so tests can produce what identity never would (wrong `iss` or `aud`, `alg:
 * none`, ...). Ed25519 through Web Crypto.
 */
export async function signJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key?: webcrypto.CryptoKey,
): Promise<string> {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  if (!key) return `${input}.`;
  const signature = await globalThis.crypto.subtle.sign('Ed25519', key, new TextEncoder().encode(input));
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

/** A closed port: nothing listens there (used for a service that is down). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** The consent header every `/v1/ai/*` request needs (DESIGN 6, 7). */
export const CONSENT = { 'x-offload-cloud-opt-in': 'true' } as const;

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The shared NATS of the test run, under a subject prefix of this gateway's own. */
export function natsEnv(prefix = `gw${randomBytes(4).toString('hex')}`): Record<string, string> {
  return { NATS_URL: inject('natsUrl'), NATS_SUBJECT_PREFIX: prefix };
}

export interface TestGateway {
  app: App;
  runtime: GatewayRuntime;
  logs: LogCapture;
  /** The address it listens on (only with `listen: true`). */
  url: string;
  close(): Promise<void>;
}

/**
 * A gateway built the way server.ts builds it, with the test's env on top of the upstreams and a NATS
 * namespace of its own; `listen` for tests that need a real socket (streams, WebSockets, raw bytes).
 */
export async function startGateway(
  env: Record<string, string | undefined>,
  options: { jwks?: JwksSource; routes?: readonly ProxyRoute[]; listen?: boolean; logs?: LogCapture } = {},
): Promise<TestGateway> {
  const logs = options.logs ?? new LogCapture();
  const runtime = await createGatewayRuntime(loadGatewayConfig({ ...natsEnv(), ...env }), {
    logger: createLogger({ service: 'gateway', destination: logs }),
    ...(options.jwks ? { jwks: options.jwks } : {}),
    ...(options.routes ? { routes: options.routes } : {}),
  });
  const app = await buildGatewayApp(runtime);
  const url = options.listen ? await app.listen({ port: 0, host: '127.0.0.1' }) : '';
  return {
    app,
    runtime,
    logs,
    url,
    async close() {
      await app.close();
      await runtime.close();
    },
  };
}

export interface ListeningGateway {
  upstreams: Record<string, Upstream>;
  signer: Awaited<ReturnType<typeof createTestSigner>>;
  gateway: TestGateway;
}

/**
 * The setup most gateway test files share: every upstream stand-in, a test signer and a listening
 * gateway pointed at them, started before the file's tests and closed after. Read the fields inside
 * tests (they are filled in `beforeAll`).
 */
export function useListeningGateway(): ListeningGateway {
  const fixture = {} as ListeningGateway;
  beforeAll(async () => {
    fixture.signer = await createTestSigner();
    fixture.upstreams = await startUpstreams();
    fixture.gateway = await startGateway(upstreamEnv(fixture.upstreams), {
      jwks: fixture.signer.jwks,
      listen: true,
    });
  });
  afterAll(async () => {
    await fixture.gateway?.close();
    for (const upstream of Object.values(fixture.upstreams ?? {})) await upstream.close();
  });
  return fixture;
}

/**
 * Writes raw bytes to a server and collects what comes back until the server closes the connection or
 * `waitMs` passes. For what well-behaved clients cannot send: a body announced but never delivered.
 */
export async function rawExchange(
  url: string,
  parts: Array<string | Buffer>,
  waitMs = 3_000,
): Promise<{ status: number; text: string; closedByServer: boolean }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  for (const part of parts) socket.write(part);
  const closedByServer = await Promise.race([
    once(socket, 'end').then(() => true),
    once(socket, 'close').then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), waitMs)),
  ]);
  socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, text, closedByServer };
}
