import { connect, headers as natsHeaders, type NatsConnection, type MsgHdrs } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import {
  eventSchemas,
  STREAMS,
  type DomainEvent,
  type EventOf,
  type EventType,
  type StreamName,
} from '@offload/contracts';
import type { z } from 'zod';
import type { Logger } from '../logger/index.js';
import { AppError } from '../errors.js';
import { SpanKind, contextFromHeaders, currentTraceHeaders, withSpan } from '../telemetry/index.js';

export interface Bus {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Namespace applied to every subject and stream (empty in production). */
  prefix: string;
  subject(name: string): string;
  stream(name: StreamName | 'DLQ'): string;
  close(): Promise<void>;
}

export interface BusOptions {
  url: string;
  name: string;
  prefix?: string;
  logger: Logger;
}

/** Connects with unlimited reconnects, so a broker restart is a pause, not an outage. */
export async function connectBus(options: BusOptions): Promise<Bus> {
  const nc = await connect({
    servers: options.url.split(','),
    name: options.name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // Otherwise every request captures a stack trace up front (for a timeout's error), which costs more
    // than the request itself; our callers map timeouts to their own errors anyway.
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        options.logger.warn({ nats: status.type }, 'nats connection status changed');
      }
    }
  })();
  const prefix = options.prefix ?? '';
  const js = jetstream(nc, { timeout: 5_000 });
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  return {
    nc,
    js,
    jsm,
    prefix,
    subject: (name) => (prefix ? `${prefix}.${name}` : name),
    stream: (name) => (prefix ? `${prefix.toUpperCase().replace(/-/g, '_')}_${name}` : name),
    async close() {
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

/** Creates (or updates) the streams a service publishes to or consumes from, plus the dead-letter stream. */
export async function ensureStreams(bus: Bus, names: StreamName[], options: { replicas?: number } = {}) {
  const wanted = [
    ...names.map((n) => ({ name: n, subjects: [...STREAMS[n].subjects] })),
    { name: 'DLQ' as const, subjects: ['dlq.>'] },
  ];
  for (const { name, subjects } of wanted) {
    const config = {
      name: bus.stream(name),
      subjects: subjects.map((s) => bus.subject(s)),
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      num_replicas: options.replicas ?? 1,
      duplicate_window: nanos(120_000),
      max_age: nanos(name === 'DLQ' ? 30 * 86_400_000 : 7 * 86_400_000),
    };
    try {
      await bus.jsm.streams.info(config.name);
      await bus.jsm.streams.update(config.name, config);
    } catch (error) {
      if ((error as { name?: string }).name !== 'StreamNotFoundError' && !/not found/i.test(String(error)))
        throw error;
      await bus.jsm.streams.add(config);
    }
  }
}

/** Publishes one event with `Nats-Msg-Id` = event id (JetStream deduplicates) and the trace context. */
export async function publishEvent(
  bus: Bus,
  event: DomainEvent,
  traceHeaders: Record<string, string> = currentTraceHeaders(),
): Promise<void> {
  const schema = eventSchemas[event.type] as z.ZodType;
  schema.parse(event);
  await withSpan(
    `publish ${event.type}`,
    {
      kind: SpanKind.PRODUCER,
      parent: contextFromHeaders(traceHeaders),
      attributes: {
        'messaging.system': 'nats',
        'messaging.destination.name': event.type,
        'messaging.message.id': event.id,
      },
    },
    async () => {
      await bus.js.publish(bus.subject(event.type), JSON.stringify(event), {
        msgID: event.id,
        headers: traceContextHeaders(),
      });
    },
  );
}

export interface ConsumerOptions<T extends EventType> {
  stream: StreamName;
  /** `<consumer>__<purpose>` (STYLE 10), e.g. `usage__kickstart_credits`. */
  durable: string;
  types: T[];
  handler: (event: EventOf<T>, meta: { deliveryCount: number }) => Promise<void>;
  logger: Logger;
  maxDeliver?: number;
  /** Delay before each redelivery after a failure, in ms. */
  backoffMs?: number[];
  ackWaitMs?: number;
}

export interface RunningConsumer {
  stop(): Promise<void>;
}

/**
 * A durable pull consumer with explicit ack. A failing handler is retried with backoff up to
 * `maxDeliver` deliveries; then the message goes to `dlq.<durable>` with the error class, for operators,
 * and is terminated. Messages that do not parse go to the dead-letter subject at once.
 */
export async function startConsumer<T extends EventType>(
  bus: Bus,
  options: ConsumerOptions<T>,
): Promise<RunningConsumer> {
  const maxDeliver = options.maxDeliver ?? 5;
  const backoff = options.backoffMs ?? [500, 2_000, 10_000, 30_000];
  const streamName = bus.stream(options.stream);
  const config = {
    durable_name: options.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // One subject filter (nats-server 2.9 has no `filter_subjects`); with several types the consumer reads
    // the owner's whole stream and acks what it does not handle.
    filter_subject:
      options.types.length === 1
        ? bus.subject(options.types[0]!)
        : bus.subject(`${options.stream.toLowerCase()}.>`),
    max_deliver: maxDeliver,
    ack_wait: nanos(options.ackWaitMs ?? 30_000),
  };
  try {
    await bus.jsm.consumers.info(streamName, options.durable);
    await bus.jsm.consumers.update(streamName, options.durable, config);
  } catch {
    await bus.jsm.consumers.add(streamName, config);
  }
  const consumer = await bus.js.consumers.get(streamName, options.durable);
  let stopped = false;
  let messages: Awaited<ReturnType<typeof consumer.consume>> | undefined;

  const deadLetter = async (msg: JsMsg, reason: string) => {
    const h = natsHeaders();
    h.set('Offload-Dead-Letter-Reason', reason);
    h.set('Offload-Original-Subject', msg.subject);
    h.set('Offload-Deliveries', String(msg.info.deliveryCount));
    await bus.js.publish(bus.subject(`dlq.${options.durable}`), msg.data, { headers: h });
    msg.term(reason);
    options.logger.error({ durable: options.durable, reason, subject: msg.subject }, 'message dead-lettered');
  };

  const handle = async (msg: JsMsg) => {
    let event: EventOf<T>;
    try {
      const raw = msg.json<{ type?: string }>();
      if (
        typeof raw.type === 'string' &&
        raw.type in eventSchemas &&
        !options.types.includes(raw.type as T)
      ) {
        msg.ack();
        return;
      }
      const schema = eventSchemas[raw.type as T];
      if (!schema) throw new Error('unknown event type');
      event = schema.parse(raw) as EventOf<T>;
    } catch {
      await deadLetter(msg, 'invalid_event');
      return;
    }
    const carrier = headersToRecord(msg.headers);
    try {
      await withSpan(
        `consume ${event.type}`,
        {
          kind: SpanKind.CONSUMER,
          parent: contextFromHeaders(carrier),
          attributes: {
            'messaging.system': 'nats',
            'messaging.destination.name': event.type,
            'messaging.consumer.group.name': options.durable,
            'messaging.message.id': event.id,
          },
        },
        () => options.handler(event, { deliveryCount: msg.info.deliveryCount }),
      );
      msg.ack();
    } catch (error) {
      const errorClass = errorClassOf(error);
      if (msg.info.deliveryCount >= maxDeliver) {
        await deadLetter(msg, errorClass);
      } else {
        const delay = backoff[Math.min(msg.info.deliveryCount - 1, backoff.length - 1)] ?? 1_000;
        options.logger.warn(
          { durable: options.durable, error: errorClass, delivery: msg.info.deliveryCount },
          'handler failed, will retry',
        );
        msg.nak(delay);
      }
    }
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        messages = await consumer.consume({ max_messages: 64 });
        for await (const msg of messages) {
          await handle(msg);
          if (stopped) break;
        }
      } catch (error) {
        if (stopped) break;
        options.logger.warn(
          { durable: options.durable, error: errorClassOf(error) },
          'consume loop restarting',
        );
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      await messages?.close().catch(() => undefined);
      await loop;
    },
  };
}

/** NATS headers carrying the active span's context (`traceparent`), for the receiver to continue. */
function traceContextHeaders(): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(currentTraceHeaders())) h.set(k, v);
  return h;
}

function headersToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const key of h.keys()) out[key.toLowerCase()] = h.get(key);
  return out;
}

function errorClassOf(error: unknown): string {
  const e = error as { code?: unknown; name?: string };
  return typeof e?.code === 'string' ? e.code : (e?.name ?? 'Error');
}

// ---------------------------------------------------------------------------------------------------
// Request/reply for internal synchronous calls (DESIGN 2): zod-validated both ways, with timeouts.

export interface RpcDefinition<Req extends z.ZodType, Res extends z.ZodType> {
  subject: string;
  request: Req;
  response: Res;
}

type RpcReply<Res> = { ok: true; data: Res } | { ok: false; error: { code: string; message: string } };

export function serveRpc<Req extends z.ZodType, Res extends z.ZodType>(
  bus: Bus,
  def: RpcDefinition<Req, Res>,
  handler: (req: z.infer<Req>) => Promise<z.infer<Res>>,
  options: { queue: string; logger: Logger },
): { stop(): void } {
  const sub = bus.nc.subscribe(bus.subject(`rpc.${def.subject}`), { queue: options.queue });
  void (async () => {
    for await (const msg of sub) {
      void withSpan(
        `rpc ${def.subject} serve`,
        {
          kind: SpanKind.SERVER,
          parent: contextFromHeaders(headersToRecord(msg.headers)),
          attributes: { 'messaging.system': 'nats', 'rpc.method': def.subject },
        },
        async (span) => {
          let reply: RpcReply<z.infer<Res>>;
          try {
            const req = def.request.parse(msg.json());
            reply = { ok: true, data: def.response.parse(await handler(req)) };
          } catch (error) {
            const e = error as { code?: string; name?: string };
            span.setAttribute('error.type', errorClassOf(error));
            options.logger.warn({ rpc: def.subject, error: errorClassOf(error) }, 'rpc handler failed');
            reply = {
              ok: false,
              error: {
                code: typeof e.code === 'string' ? e.code : 'internal_error',
                message: 'internal call failed',
              },
            };
          }
          msg.respond(JSON.stringify(reply));
        },
      ).catch((error: unknown) => {
        // The connection closed under the reply (a stop or a broker restart): the caller times out.
        options.logger.warn({ rpc: def.subject, error: errorClassOf(error) }, 'rpc reply not sent');
      });
    }
  })();
  return { stop: () => sub.unsubscribe() };
}

export async function callRpc<Req extends z.ZodType, Res extends z.ZodType>(
  bus: Bus,
  def: RpcDefinition<Req, Res>,
  req: z.infer<Req>,
  options: { timeoutMs?: number } = {},
): Promise<z.infer<Res>> {
  const raw = await withSpan(
    `rpc ${def.subject}`,
    { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'nats', 'rpc.method': def.subject } },
    async () => {
      try {
        const msg = await bus.nc.request(
          bus.subject(`rpc.${def.subject}`),
          JSON.stringify(def.request.parse(req)),
          { timeout: options.timeoutMs ?? 3_000, headers: traceContextHeaders() },
        );
        return msg.json<RpcReply<unknown>>();
      } catch (error) {
        throw new AppError('service_unavailable', 'an internal service did not answer', { cause: error });
      }
    },
  );
  if (!raw.ok)
    throw new AppError('service_unavailable', 'an internal call failed', { cause: raw.error.code });
  return def.response.parse(raw.data);
}
