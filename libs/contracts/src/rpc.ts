import { z } from 'zod';
import { Jwks } from './http/identity.js';
import { Id, Timestamp } from './ids.js';

/**
 * Internal request/reply calls over NATS (DESIGN 2). Subjects are relative: the platform adds the
 * `rpc.` prefix and the deployment namespace.
 */
export const identityJwksRpc = {
  subject: 'identity.jwks',
  request: z.object({}).strict(),
  response: Jwks,
};

/**
 * Revoked sessions and per-user cutoffs that may still have live access tokens (revoked within the last
 * `window_seconds`), so token verifiers can reject them without a database call per request. Sessions
 * are paged by `cursor`; `users` comes complete with the first page.
 */
export const RevocationSnapshot = z.object({
  window_seconds: z.number().int().positive(),
  generated_at: Timestamp,
  sessions: z.array(z.object({ session_id: Id, user_id: Id, revoked_at: Timestamp })),
  /** `identity.session.revoked` with `all: true`: tokens of the user with `iat` at or before this second. */
  users: z.array(z.object({ user_id: Id, revoked_before: Timestamp })),
  next_cursor: z.string().nullable(),
});
export type RevocationSnapshot = z.infer<typeof RevocationSnapshot>;

export const identityRevocationsRpc = {
  subject: 'identity.revocations',
  request: z.object({ cursor: z.string().min(1).max(200).optional() }).strict(),
  response: RevocationSnapshot,
};

/**
 * Reservations (DESIGN 8): the ai service (and later voice) holds quota or credits for an operation before
 * calling a provider, commits on success and releases on failure; an unreleased hold expires after its TTL.
 * Every call is idempotent by `operation_id`.
 */
export const ReservationResource = z.discriminatedUnion('kind', [
  /** A monthly meter (Offload quota), e.g. feature `ai_breakdown`; counts per user, device and UTC month. */
  z.object({
    kind: z.literal('meter'),
    feature: z.string().min(1).max(64),
    install_id: z.string().min(8).max(128),
  }),
  /** AI credits from the ledger (Perpetua). */
  z.object({ kind: z.literal('credits') }),
]);
export type ReservationResource = z.infer<typeof ReservationResource>;

export const ReserveRequest = z
  .object({
    operation_id: z.uuid(),
    user_id: z.uuid(),
    tier: z.enum(['free', 'pro']),
    resource: ReservationResource,
    amount: z.number().int().min(1).max(1000),
    ttl_ms: z
      .number()
      .int()
      .min(1_000)
      .max(15 * 60_000),
  })
  .strict();
export type ReserveRequest = z.infer<typeof ReserveRequest>;

export const ReserveResponse = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('granted'),
    operation_id: z.uuid(),
    remaining: z.number().int().nonnegative(),
  }),
  z.object({
    status: z.literal('denied'),
    code: z.enum(['quota_exceeded', 'insufficient_credits']),
    remaining: z.number().int().nonnegative(),
  }),
]);
export type ReserveResponse = z.infer<typeof ReserveResponse>;

export const SettleRequest = z
  .object({
    operation_id: z.uuid(),
    /** For commit: the real amount, at most what was reserved; defaults to the reserved amount. */
    amount: z.number().int().min(0).max(1000).optional(),
  })
  .strict();
export type SettleRequest = z.infer<typeof SettleRequest>;

export const SettleResponse = z.object({
  status: z.enum(['committed', 'released', 'already_committed', 'already_released', 'expired', 'unknown']),
});
export type SettleResponse = z.infer<typeof SettleResponse>;

export const usageReserveRpc = {
  subject: 'usage.reserve',
  request: ReserveRequest,
  response: ReserveResponse,
};
export const usageCommitRpc = { subject: 'usage.commit', request: SettleRequest, response: SettleResponse };
export const usageReleaseRpc = { subject: 'usage.release', request: SettleRequest, response: SettleResponse };
