import { newId, type EventOf } from '@offload/contracts';
import type { Tx } from '@offload/platform/db';
import { appendToOutbox } from '@offload/platform/outbox';
import type { MeterKey, MeterRepository } from '../db/meter-repository.js';
import { outbox, type UsageSchema } from '../db/schema.js';
import { isExhausted } from '../domain/quota.js';

/**
 * Inside the transaction that raised a meter: when the user's total reached the quota, records it and
 * queues `usage.quota.exhausted`, once per user, feature, month and quota (whoever gets there first).
 */
export async function announceExhaustionIfReached(
  tx: Tx<UsageSchema>,
  meterRepository: MeterRepository,
  input: MeterKey & { quota: number; total: number; now: Date },
): Promise<boolean> {
  const { total, now, ...key } = input;
  if (!isExhausted(key.quota, total)) return false;
  if (!(await meterRepository.markExhausted(tx, key))) return false;
  const event: EventOf<'usage.quota.exhausted'> = {
    id: newId(),
    type: 'usage.quota.exhausted',
    source: 'usage',
    time: now.toISOString(),
    subject: key.userId,
    data: { user_id: key.userId, feature: key.feature, period: key.period, quota: key.quota, used: total },
  };
  await appendToOutbox(tx, outbox, [event]);
  return true;
}
