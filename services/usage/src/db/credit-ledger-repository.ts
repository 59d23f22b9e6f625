import type { CreditKind } from '@offload/contracts';
import { and, eq, isNull, or, sql } from 'drizzle-orm';
import type { CreditBucket } from '../domain/credits.js';
import type { Database, Tx } from '@offload/platform/db';
import { creditLedger, type UsageSchema } from './schema.js';

export type NewLedgerRow = typeof creditLedger.$inferInsert;

export function createCreditLedgerRepository(database: Database<UsageSchema>) {
  const { db } = database;
  // Non-expired rows only: a debit carries the expiry of the grants it drew from (schema.ts).
  const sumsByKind = db
    .select({ kind: creditLedger.kind, total: sql<number>`coalesce(sum(${creditLedger.amount}), 0)::int` })
    .from(creditLedger)
    .where(
      and(
        eq(creditLedger.userId, sql.placeholder('userId')),
        or(isNull(creditLedger.expiresAt), sql`${creditLedger.expiresAt} > now()`),
      ),
    )
    .groupBy(creditLedger.kind)
    .prepare('credit_ledger_sums_by_kind');

  const live = (userId: string) =>
    and(
      eq(creditLedger.userId, userId),
      or(isNull(creditLedger.expiresAt), sql`${creditLedger.expiresAt} > now()`),
    );

  return {
    /**
     * Appends a row unless a unique index already holds its twin (e.g. the one kickstart grant per
     * user); returns whether it was written.
     */
    async appendOnce(tx: Tx<UsageSchema>, row: NewLedgerRow): Promise<boolean> {
      const written = await tx
        .insert(creditLedger)
        .values(row)
        .onConflictDoNothing()
        .returning({ id: creditLedger.id });
      return written.length === 1;
    },
    async sumsByKind(userId: string, tx?: Tx<UsageSchema>): Promise<Partial<Record<CreditKind, number>>> {
      const rows = tx
        ? await tx
            .select({
              kind: creditLedger.kind,
              total: sql<number>`coalesce(sum(${creditLedger.amount}), 0)::int`,
            })
            .from(creditLedger)
            .where(live(userId))
            .groupBy(creditLedger.kind)
        : await sumsByKind.execute({ userId });
      return Object.fromEntries(rows.map((r) => [r.kind, Number(r.total)]));
    },
    /** Spendable credits grouped by kind and expiry (non-expired rows only), for planning a debit. */
    async buckets(tx: Tx<UsageSchema>, userId: string): Promise<CreditBucket[]> {
      const rows = await tx
        .select({
          kind: creditLedger.kind,
          expiresAt: creditLedger.expiresAt,
          balance: sql<number>`sum(${creditLedger.amount})::int`,
          firstGrantAt: sql<Date>`min(${creditLedger.createdAt})`.mapWith(creditLedger.createdAt),
        })
        .from(creditLedger)
        .where(live(userId))
        .groupBy(creditLedger.kind, creditLedger.expiresAt);
      return rows.map((r) => ({ ...r, balance: Number(r.balance) }));
    },
    async append(tx: Tx<UsageSchema>, rows: NewLedgerRow[]): Promise<void> {
      if (rows.length > 0) await tx.insert(creditLedger).values(rows);
    },
  };
}

export type CreditLedgerRepository = ReturnType<typeof createCreditLedgerRepository>;
