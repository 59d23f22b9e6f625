import { z } from 'zod';
import { MeterFeature, UsagePeriod } from './http/usage.js';
import { Id, Timestamp } from './ids.js';

/**
 * Every domain event, as a zod discriminated union on `type` (DESIGN 12). Payloads carry ids, enums,
 * counts and timestamps only: never titles, descriptions, prompts, transcripts, tokens or emails.
 */
const envelope = <T extends string, D extends z.ZodType>(type: T, data: D) =>
  z.object({
    id: Id,
    type: z.literal(type),
    source: z.string().min(1),
    time: Timestamp,
    subject: Id,
    data,
  });

export const IdentityUserCreated = envelope(
  'identity.user.created',
  z.object({ user_id: Id, anonymous: z.boolean(), tier: z.enum(['free', 'pro']) }),
);

export const TasksTaskCreated = envelope(
  'tasks.task.created',
  z.object({
    task_id: Id,
    user_id: Id,
    priority: z.enum(['low', 'medium', 'high']),
    has_due_date: z.boolean(),
    source: z.enum(['user', 'ai']),
  }),
);

/** Kinds of credits in usage's ledger (DESIGN 8), in spend order. */
export const CreditKind = z.enum(['daily', 'subscription', 'purchased', 'kickstart']);
export type CreditKind = z.infer<typeof CreditKind>;

/** Why credits were granted (DESIGN 8); a closed list that grows with the grants usage learns. */
export const CreditGrantReason = z.enum(['kickstart']);
export type CreditGrantReason = z.infer<typeof CreditGrantReason>;

export const UsageCreditsGranted = envelope(
  'usage.credits.granted',
  z.object({
    user_id: Id,
    kind: CreditKind,
    amount: z.number().int().positive(),
    reason: CreditGrantReason,
  }),
);

/** Credits were spent: a reservation was committed and debited from the ledger (DESIGN 8). */
export const UsageCreditsConsumed = envelope(
  'usage.credits.consumed',
  z.object({
    user_id: Id,
    operation_id: Id,
    amount: z.number().int().positive(),
    /** The ledger balance after the debit (holds of other operations not subtracted). */
    remaining: z.number().int().nonnegative(),
  }),
);

/** A user's meter of a feature reached its monthly quota; once per user, feature, month and quota. */
export const UsageQuotaExhausted = envelope(
  'usage.quota.exhausted',
  z.object({
    user_id: Id,
    feature: MeterFeature,
    period: UsagePeriod,
    quota: z.number().int().nonnegative(),
    used: z.number().int().nonnegative(),
  }),
);

/**
 * The ai service finished a provider call (DESIGN 7): metadata only, never prompts or outputs. Published
 * for every request that reached the provider, whatever the outcome; `charged` says whether the
 * reservation was committed.
 */
export const AiRequestCompleted = envelope(
  'ai.request.completed',
  z.object({
    user_id: Id,
    operation_id: Id,
    feature: z.enum(['breakdown', 'chat', 'subtasks', 'note_conversion']),
    outcome: z.enum(['succeeded', 'failed', 'timed_out', 'invalid_response', 'cancelled']),
    provider: z.string().min(1).max(64),
    prompt_version: z.string().min(1).max(64),
    attempts: z.number().int().min(0).max(10),
    input_tokens: z.number().int().nonnegative(),
    output_tokens: z.number().int().nonnegative(),
    latency_ms: z.number().int().nonnegative(),
    charged: z.boolean(),
  }),
);

/** Identity providers a user can link to their account (DESIGN 5). */
export const IdentityProvider = z.enum(['google']);
export type IdentityProvider = z.infer<typeof IdentityProvider>;

/** An anonymous user linked an external identity: same `user_id`, no longer anonymous (DESIGN 5). */
export const IdentityUserLinked = envelope(
  'identity.user.linked',
  z.object({ user_id: Id, provider: IdentityProvider, linked_at: Timestamp }),
);

/** Profile fields changed; which ones, never their values (names are personal data). */
export const IdentityUserUpdated = envelope(
  'identity.user.updated',
  z.object({
    user_id: Id,
    changed: z.array(z.enum(['name', 'timezone', 'tier'])).min(1),
    version: z.number().int().positive(),
  }),
);

/**
 * The user asked to erase their account. Every service listed in identity's `ERASURE_SERVICES` purges
 * that user's rows and confirms with its own `<service>.user.purged` event carrying the same
 * `erasure_id` (see USER_PURGED_EVENT).
 */
export const IdentityUserDeleted = envelope(
  'identity.user.deleted',
  z.object({ user_id: Id, erasure_id: Id, requested_at: Timestamp }),
);

export const SessionRevocationReason = z.enum([
  'logout',
  'logout_all',
  'refresh_token_reuse',
  'user_deleted',
]);
export type SessionRevocationReason = z.infer<typeof SessionRevocationReason>;

/**
 * Sessions (refresh-token families, the `sid` claim) were revoked. `all: true` revokes every session of
 * the user that existed at `revoked_at`: access tokens of that user issued at or before that second
 * (`iat`) are rejected. Otherwise exactly `session_ids` are revoked.
 */
export const IdentitySessionRevoked = envelope(
  'identity.session.revoked',
  z.object({
    user_id: Id,
    session_ids: z.array(Id).max(1000),
    all: z.boolean(),
    revoked_at: Timestamp,
    reason: SessionRevocationReason,
  }),
);

/** Services that hold user data and confirm an erasure (DESIGN 2, 5). */
export const ErasureService = z.enum(['identity', 'usage', 'tasks', 'ai', 'billing', 'voice']);
export type ErasureService = z.infer<typeof ErasureService>;

/**
 * `<service>.user.purged`: the service deleted every row of `user_id` for erasure `erasure_id` (from
 * `identity.user.deleted`). `erased` counts what was deleted per table or kind (`{"tasks": 12}`), ids and
 * counts only.
 */
const userPurged = <T extends string>(type: T) =>
  envelope(
    type,
    z.object({
      user_id: Id,
      erasure_id: Id,
      service: ErasureService,
      purged_at: Timestamp,
      erased: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), z.number().int().nonnegative()),
    }),
  );
export const IdentityUserPurged = userPurged('identity.user.purged');
export const UsageUserPurged = userPurged('usage.user.purged');
export const TasksUserPurged = userPurged('tasks.user.purged');
export const AiUserPurged = userPurged('ai.user.purged');
export const BillingUserPurged = userPurged('billing.user.purged');
export const VoiceUserPurged = userPurged('voice.user.purged');

/** The confirmation event each erasure service publishes (on its own stream). */
export const USER_PURGED_EVENT = {
  identity: 'identity.user.purged',
  usage: 'usage.user.purged',
  tasks: 'tasks.user.purged',
  ai: 'ai.user.purged',
  billing: 'billing.user.purged',
  voice: 'voice.user.purged',
} as const satisfies Record<ErasureService, string>;

export const DomainEvent = z.discriminatedUnion('type', [
  AiRequestCompleted,
  IdentityUserCreated,
  IdentityUserLinked,
  IdentityUserUpdated,
  IdentityUserDeleted,
  IdentityUserPurged,
  IdentitySessionRevoked,
  UsageUserPurged,
  TasksUserPurged,
  AiUserPurged,
  BillingUserPurged,
  VoiceUserPurged,
  TasksTaskCreated,
  UsageCreditsGranted,
  UsageCreditsConsumed,
  UsageQuotaExhausted,
]);
export type DomainEvent = z.infer<typeof DomainEvent>;
export type EventType = DomainEvent['type'];
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;
export type EventData<T extends EventType> = EventOf<T>['data'];

export const eventSchemas: { [T in EventType]: z.ZodType<EventOf<T>> } = {
  'ai.request.completed': AiRequestCompleted,
  'identity.user.created': IdentityUserCreated,
  'identity.user.linked': IdentityUserLinked,
  'identity.user.updated': IdentityUserUpdated,
  'identity.user.deleted': IdentityUserDeleted,
  'identity.user.purged': IdentityUserPurged,
  'identity.session.revoked': IdentitySessionRevoked,
  'usage.user.purged': UsageUserPurged,
  'tasks.user.purged': TasksUserPurged,
  'ai.user.purged': AiUserPurged,
  'billing.user.purged': BillingUserPurged,
  'voice.user.purged': VoiceUserPurged,
  'tasks.task.created': TasksTaskCreated,
  'usage.credits.granted': UsageCreditsGranted,
  'usage.credits.consumed': UsageCreditsConsumed,
  'usage.quota.exhausted': UsageQuotaExhausted,
};

/** One JetStream stream per owning service (DESIGN 2, 12). */
export const STREAMS = {
  IDENTITY: { subjects: ['identity.>'] },
  AI: { subjects: ['ai.>'] },
  USAGE: { subjects: ['usage.>'] },
  TASKS: { subjects: ['tasks.>'] },
  BILLING: { subjects: ['billing.>'] },
  VOICE: { subjects: ['voice.>'] },
} as const;
export type StreamName = keyof typeof STREAMS;

export function streamOf(type: EventType): StreamName {
  const owner = type.split('.')[0]!.toUpperCase();
  if (!(owner in STREAMS)) throw new Error(`no stream owns ${type}`);
  return owner as StreamName;
}
