import type { UsageMeter } from '@offload/contracts';
import { remainingOf } from './quota.js';

/** A meter as `GET /v1/usage` shows it: one feature in one month, summed over the user's devices. */
export interface MeterTotal {
  feature: string;
  period: string;
  deviceCount: number;
  total: number;
}

export function toUsageMeter(meter: MeterTotal, quota: number): UsageMeter {
  return {
    feature: meter.feature,
    period: meter.period,
    device_count: meter.deviceCount,
    server_count: meter.total,
    quota,
    effective_remaining: remainingOf(quota, meter.total),
  };
}

/** Where a page of meters ended: pages run newest month first, then by feature. */
export interface MeterCursor {
  period: string;
  feature: string;
}

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;
const FEATURE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** Opaque to clients: base64url of `v1:<period>:<feature>`. */
export function encodeMeterCursor(cursor: MeterCursor): string {
  return Buffer.from(`v1:${cursor.period}:${cursor.feature}`, 'utf8').toString('base64url');
}

export function decodeMeterCursor(value: string): MeterCursor | null {
  const decoded = Buffer.from(value, 'base64url').toString('utf8');
  if (!decoded.startsWith('v1:')) return null;
  const period = decoded.slice(3, 10);
  const feature = decoded.slice(11);
  if (decoded[10] !== ':' || !PERIOD.test(period) || !FEATURE.test(feature)) return null;
  return { period, feature };
}
