import type { SettleResponse } from '@offload/contracts';

/**
 * A reservation's life (DESIGN 8): `held` until committed, released or past its TTL (`expired`).
 * A denied reserve is kept too (`denied`), so a retried reserve gets the same answer.
 */
export type ReservationStatus = 'held' | 'committed' | 'released' | 'expired' | 'denied';

export type SettleStatus = SettleResponse['status'];

export type SettlePlan =
  /** The hold is live: apply the action (charge or free it). */
  | { apply: true }
  /** Nothing to apply; answer `status`. `markExpired`: the hold is past its TTL but still says held. */
  | { apply: false; status: SettleStatus; markExpired: boolean };

/**
 * What committing or releasing a reservation does, by its stored status and whether its TTL passed.
 * Repeats answer `already_*`; a hold past its TTL is expired whatever the action (its amount is
 * already free); a denied reserve held nothing, so there is nothing to settle (`unknown`).
 */
export function planSettle(
  reservation: { status: ReservationStatus; pastExpiry: boolean } | undefined,
): SettlePlan {
  if (!reservation) return { apply: false, status: 'unknown', markExpired: false };
  switch (reservation.status) {
    case 'held':
      return reservation.pastExpiry
        ? { apply: false, status: 'expired', markExpired: true }
        : { apply: true };
    case 'committed':
      return { apply: false, status: 'already_committed', markExpired: false };
    case 'released':
      return { apply: false, status: 'already_released', markExpired: false };
    case 'expired':
      return { apply: false, status: 'expired', markExpired: false };
    case 'denied':
      return { apply: false, status: 'unknown', markExpired: false };
  }
}

/** What a reservation was asked for; a reused operation id must ask for the same thing. */
export interface ReservationFingerprint {
  userId: string;
  kind: 'meter' | 'credits';
  feature: string | null;
  installIdHash: string | null;
  amount: number;
}

export function sameReservation(a: ReservationFingerprint, b: ReservationFingerprint): boolean {
  return (
    a.userId === b.userId &&
    a.kind === b.kind &&
    a.feature === b.feature &&
    a.installIdHash === b.installIdHash &&
    a.amount === b.amount
  );
}

/**
 * The advisory-lock key that serialises a user's credit holds with their settlement. (A meter month's key
 * is `usage.meter_lock_key` in Postgres, where meter holds are decided: ADR 0012.)
 */
export function creditsLockKey(userId: string): string {
  return `usage:credits:${userId}`;
}
