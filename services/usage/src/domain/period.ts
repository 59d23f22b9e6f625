/**
 * Usage periods are UTC calendar months, written `YYYY-MM` (DESIGN 8). A meter's month never depends on
 * the server's or the client's time zone.
 */
export type Period = string;

/** The UTC month `at` falls in. */
export function periodOf(at: Date): Period {
  const month = String(at.getUTCMonth() + 1).padStart(2, '0');
  return `${String(at.getUTCFullYear()).padStart(4, '0')}-${month}`;
}

/** 00:00 UTC on the first day of the month `at` falls in. */
export function periodStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** 00:00 UTC on the first day of the month after the one `at` falls in: when a meter starts over. */
export function nextPeriodStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
}

/**
 * How far before the UTC month's start a client's `since` may lie and still count as "this month":
 * a client that resets its counter at local midnight of the 1st is up to 14 hours early (UTC+14).
 */
export const SINCE_TOLERANCE_MS = 14 * 60 * 60 * 1000;

/**
 * Whether a reconciled local count belongs to the current UTC month. Without `since`, it does. A
 * `since` earlier than the month's start (beyond any time-zone offset) means the client's counter
 * has not rolled over: its count spans two months, cannot be split, and is not applied; the
 * answer still shows the current month, so the client learns the new month's state and resets.
 */
export function localCountApplies(since: Date | undefined, now: Date): boolean {
  if (since === undefined) return true;
  return since.getTime() >= periodStart(now).getTime() - SINCE_TOLERANCE_MS;
}
