import { CreditKind, type CreditGrantReason } from '@offload/contracts';
import type { ReservationStatus } from '../domain/reservation.js';
import { sql } from 'drizzle-orm';
import {
  check,
  index,
  integer,
  pgSchema,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { inboxTable, outboxTable } from '@offload/platform/outbox';

export const usageSchema = pgSchema('usage');

export const creditKind = usageSchema.enum(
  'credit_kind',
  CreditKind.options as [CreditKind, ...CreditKind[]],
);

/** Why a ledger row exists: a grant (reasons from contracts) or `consumed` (a committed reservation). */
export type LedgerReason = CreditGrantReason | 'consumed';

/**
 * The credit ledger (DESIGN 8): append-only, one row per grant (+amount) or debit (-amount). A debit
 * carries the `expires_at` of the grants it drew from, so an expired day's grants and debits drop out
 * of the balance together. Rows are never updated (a trigger in the migrations refuses it).
 */
export const creditLedger = usageSchema.table(
  'credit_ledger',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').notNull(),
    kind: creditKind('kind').notNull(),
    amount: integer('amount').notNull(),
    reason: text('reason').$type<LedgerReason>().notNull(),
    sourceEventId: uuid('source_event_id'),
    /** For debits: the reservation (operation) that spent the credits. */
    operationId: uuid('operation_id'),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('credit_ledger_user_kind_created_idx').on(t.userId, t.kind, t.createdAt),
    // Defence in depth beside the inbox: one kickstart grant per user, whatever event delivers it.
    uniqueIndex('credit_ledger_kickstart_once_idx')
      .on(t.userId)
      .where(sql`${t.reason} = 'kickstart'`),
    check('credit_ledger_amount_not_zero', sql`${t.amount} <> 0`),
    check('credit_ledger_reason_format', sql`${t.reason} ~ '^[a-z][a-z_]{0,31}$'`),
  ],
);

/**
 * Meters (DESIGN 8): one counter per user, device, feature and UTC month. Devices are known only by the
 * SHA-256 of their install id (as identity stores them). A count only grows: reconcile stores
 * max(stored, local) and a committed reservation adds to it.
 */
export const meters = usageSchema.table(
  'meters',
  {
    userId: uuid('user_id').notNull(),
    period: text('period').notNull(),
    feature: text('feature').notNull(),
    installIdHash: text('install_id_hash').notNull(),
    count: integer('count').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Leading user and month: the per-user totals and listings read a prefix of this key.
    primaryKey({ columns: [t.userId, t.period, t.feature, t.installIdHash] }),
    check('meters_count_not_negative', sql`${t.count} >= 0`),
    check('meters_period_format', sql`${t.period} ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'`),
    check('meters_install_id_hash_format', sql`${t.installIdHash} ~ '^[0-9a-f]{64}$'`),
  ],
);

/**
 * Reservations (DESIGN 8): quota or credits held for an operation until committed, released or past
 * `expires_at`. A hold counts only while `status = 'held' and expires_at > now()`. The first answer is
 * kept (`remaining`, `denial_code`), so a repeated reserve answers the same. Settled rows are deleted
 * after a retention period by the sweeper.
 */
export const reservations = usageSchema.table(
  'reservations',
  {
    operationId: uuid('operation_id').primaryKey(),
    userId: uuid('user_id').notNull(),
    tier: text('tier').$type<'free' | 'pro'>().notNull(),
    kind: text('kind').$type<'meter' | 'credits'>().notNull(),
    /** Meter reservations only: what and whose device, and the month the hold counts in. */
    feature: text('feature'),
    installIdHash: text('install_id_hash'),
    period: text('period'),
    amount: integer('amount').notNull(),
    status: text('status').$type<ReservationStatus>().notNull(),
    denialCode: text('denial_code').$type<'quota_exceeded' | 'insufficient_credits'>(),
    /** `remaining` of the first answer. */
    remaining: integer('remaining').notNull(),
    committedAmount: integer('committed_amount'),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    settledAt: timestamp('settled_at', { withTimezone: true }),
  },
  (t) => [
    index('reservations_active_meter_idx')
      .on(t.userId, t.period, t.feature)
      .where(sql`${t.status} = 'held' and ${t.kind} = 'meter'`),
    index('reservations_active_credits_idx')
      .on(t.userId)
      .where(sql`${t.status} = 'held' and ${t.kind} = 'credits'`),
    index('reservations_held_expiry_idx')
      .on(t.expiresAt)
      .where(sql`${t.status} = 'held'`),
    index('reservations_created_at_idx').on(t.createdAt),
    check('reservations_kind', sql`${t.kind} in ('meter', 'credits')`),
    check('reservations_tier', sql`${t.tier} in ('free', 'pro')`),
    check('reservations_status', sql`${t.status} in ('held', 'committed', 'released', 'expired', 'denied')`),
    check(
      'reservations_meter_fields',
      sql`(${t.kind} = 'meter') = (${t.feature} is not null and ${t.installIdHash} is not null and ${t.period} is not null)`,
    ),
    check('reservations_amount_positive', sql`${t.amount} > 0`),
    check('reservations_remaining_not_negative', sql`${t.remaining} >= 0`),
    check(
      'reservations_committed_amount',
      sql`${t.committedAmount} is null or (${t.committedAmount} >= 0 and ${t.committedAmount} <= ${t.amount})`,
    ),
    check('reservations_denial', sql`(${t.status} = 'denied') = (${t.denialCode} is not null)`),
  ],
);

/**
 * One row per user, feature, month and quota whose exhaustion was announced, so
 * `usage.quota.exhausted` goes out once however many reconciles and commits pass the quota.
 */
export const quotaExhaustions = usageSchema.table(
  'quota_exhaustions',
  {
    userId: uuid('user_id').notNull(),
    period: text('period').notNull(),
    feature: text('feature').notNull(),
    quota: integer('quota').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.period, t.feature, t.quota] })],
);

/**
 * Users whose usage rows were erased (DESIGN 5), so an event about them that arrives after the erasure
 * (the kickstart grant of a user deleted before usage consumed its creation) writes nothing. Holds only
 * the SHA-256 of the user id, never the id; forgotten after 30 days (longer than any redelivery).
 */
export const erasedUsers = usageSchema.table(
  'erased_users',
  {
    userIdHash: text('user_id_hash').primaryKey(),
    erasedAt: timestamp('erased_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('erased_users_erased_at_idx').on(t.erasedAt)],
);

export const outbox = outboxTable(usageSchema);
export const inbox = inboxTable(usageSchema);

export const schema = { creditLedger, meters, reservations, quotaExhaustions, erasedUsers, outbox, inbox };
export type UsageSchema = typeof schema;
