/**
 * Monthly quotas of metered features (DESIGN 8). Every feature has its own meter and the tier's monthly
 * number of AI actions as its quota (free 100, pro 1000 by default; see config.ts). The server charges
 * `ai_breakdown` through reservations; other features are only counted by clients and reconciled.
 */
export type Tier = 'free' | 'pro';

export interface QuotaPolicy {
  free: number;
  pro: number;
}

export function monthlyQuota(policy: QuotaPolicy, tier: Tier): number {
  return tier === 'pro' ? policy.pro : policy.free;
}

/** What is left of a quota, never below zero. */
export function remainingOf(quota: number, used: number, held = 0): number {
  return Math.max(0, quota - used - held);
}

export type ReservationDecision =
  { granted: true; remaining: number } | { granted: false; remaining: number };

/**
 * A meter hold fits when the committed count, the other active holds and this amount stay within the
 * quota. `remaining` is what is left after the hold (granted) or now (denied).
 */
export function decideMeterHold(input: {
  quota: number;
  used: number;
  held: number;
  amount: number;
}): ReservationDecision {
  const left = remainingOf(input.quota, input.used, input.held);
  return input.amount <= left
    ? { granted: true, remaining: left - input.amount }
    : { granted: false, remaining: left };
}

/** A credit hold fits when the balance minus the other active holds covers the amount. */
export function decideCreditHold(input: {
  balance: number;
  held: number;
  amount: number;
}): ReservationDecision {
  const left = Math.max(0, input.balance - input.held);
  return input.amount <= left
    ? { granted: true, remaining: left - input.amount }
    : { granted: false, remaining: left };
}

/** True when a positive count reached the quota: the moment `usage.quota.exhausted` announces. */
export function isExhausted(quota: number, total: number): boolean {
  return total > 0 && total >= quota;
}
