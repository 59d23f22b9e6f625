import { SpanKind, type Span } from '@opentelemetry/api';
import type { Sql } from 'postgres';
import { markSpanError, tracer } from '../telemetry/index.js';

/**
 * postgres.js emits no spans, so every query drizzle sends through `unsafe()` is wrapped here: a CLIENT
 * span named after the SQL verb, carrying the parameterised statement (values never: they hold user
 * content). Transactions (`begin`) hand out wrapped clients too, so queries inside them are traced.
 */
export function traceSql(sql: Sql, dbName: string): Sql {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (query: string, params?: unknown[], options?: unknown) =>
          tracePending(
            (target.unsafe as unknown as (...args: unknown[]) => PendingLike)(query, params, options),
            query,
            dbName,
          );
      }
      if (prop === 'begin') {
        return (...args: unknown[]) => {
          const fn = args[args.length - 1] as (tx: Sql) => unknown;
          const rest = args.slice(0, -1);
          return (target.begin as (...a: unknown[]) => unknown)(...rest, (tx: Sql) =>
            fn(traceSql(tx, dbName)),
          );
        };
      }
      if (prop === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args[args.length - 1] as (tx: Sql) => unknown;
          const rest = args.slice(0, -1);
          return (target as unknown as { savepoint: (...a: unknown[]) => unknown }).savepoint(
            ...rest,
            (tx: Sql) => fn(traceSql(tx, dbName)),
          );
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

interface PendingLike extends PromiseLike<unknown> {
  values(): PendingLike;
  raw(): PendingLike;
}

function tracePending(pending: PendingLike, query: string, dbName: string): PendingLike {
  let span: Span | undefined;
  const start = () => {
    span ??= tracer().startSpan(`db ${verbOf(query)}`, {
      kind: SpanKind.CLIENT,
      attributes: { 'db.system.name': 'postgresql', 'db.namespace': dbName, 'db.query.text': query },
    });
  };
  const wrap = (p: PendingLike): PendingLike =>
    new Proxy(p, {
      get(target, prop, receiver) {
        if (prop === 'then') {
          return (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) => {
            start();
            return target.then(
              (value) => {
                span?.end();
                return onFulfilled ? onFulfilled(value) : value;
              },
              (error) => {
                if (span) {
                  markSpanError(span, error);
                  span.end();
                }
                if (onRejected) return onRejected(error);
                throw error;
              },
            );
          };
        }
        if (prop === 'values' || prop === 'raw') return () => wrap(target[prop]());
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return wrap(pending);
}

function verbOf(query: string): string {
  const match = /^\s*(\w+)/.exec(query);
  return (match?.[1] ?? 'query').toLowerCase();
}
