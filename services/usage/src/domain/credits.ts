import type { CreditBalance, CreditKind } from '@offload/contracts';

/** Credits every new user gets once, at sign-up (DESIGN 8). */
export const KICKSTART_CREDITS = 5;

/** Daily credits expire at the next 00:00 UTC: always the start of the next UTC day. */
export function nextDailyReset(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

/**
 * The balance from the ledger's sums per kind (non-expired grants plus the debits drawn from them).
 * A kind never shows below zero, whatever the rows say: the balance is never negative.
 */
export function toCreditBalance(sums: Partial<Record<CreditKind, number>>, now: Date): CreditBalance {
  const of = (kind: CreditKind) => Math.max(0, Math.trunc(sums[kind] ?? 0));
  const daily = of('daily');
  const subscription = of('subscription');
  const purchased = of('purchased');
  const kickstart = of('kickstart');
  return {
    daily,
    subscription,
    purchased,
    kickstart,
    total: daily + subscription + purchased + kickstart,
    daily_reset_at: nextDailyReset(now).toISOString(),
  };
}

/** Spend order of credit kinds (DESIGN 8): daily first, kickstart last. */
export const SPEND_ORDER: readonly CreditKind[] = ['daily', 'subscription', 'purchased', 'kickstart'];

/**
 * Spendable credits of one kind that expire together (`expiresAt` null: never): the ledger's grants and
 * debits grouped by kind and expiry. `firstGrantAt` is its oldest row, the tie-breaker for "oldest first".
 */
export interface CreditBucket {
  kind: CreditKind;
  expiresAt: Date | null;
  balance: number;
  firstGrantAt: Date;
}

export interface DebitDraw {
  kind: CreditKind;
  expiresAt: Date | null;
  amount: number;
}

/**
 * Which buckets a debit of `amount` draws from: kinds in spend order; within a kind the oldest credits
 * first, which are the ones expiring soonest (never-expiring last), then by first grant. Empty or negative
 * buckets are skipped, so the balance never goes negative; `shortfall` is what could not be covered.
 */
export function planDebit(
  buckets: readonly CreditBucket[],
  amount: number,
): { draws: DebitDraw[]; shortfall: number } {
  const order = [...buckets]
    .filter((b) => b.balance > 0)
    .sort(
      (a, b) =>
        SPEND_ORDER.indexOf(a.kind) - SPEND_ORDER.indexOf(b.kind) ||
        (a.expiresAt?.getTime() ?? Infinity) - (b.expiresAt?.getTime() ?? Infinity) ||
        a.firstGrantAt.getTime() - b.firstGrantAt.getTime(),
    );
  const draws: DebitDraw[] = [];
  let left = amount;
  for (const bucket of order) {
    if (left <= 0) break;
    const take = Math.min(bucket.balance, left);
    draws.push({ kind: bucket.kind, expiresAt: bucket.expiresAt, amount: take });
    left -= take;
  }
  return { draws, shortfall: Math.max(0, left) };
}
