import { sql } from 'drizzle-orm';
import {
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgSchema,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { inboxTable, outboxTable } from '@offload/platform/outbox';

export const identitySchema = pgSchema('identity');

export const tier = identitySchema.enum('tier', ['free', 'pro']);

const timestamptz = (name: string) => timestamp(name, { withTimezone: true });

export const users = identitySchema.table('users', {
  id: uuid('id').primaryKey(),
  anonymous: boolean('anonymous').notNull().default(true),
  tier: tier('tier').notNull().default('free'),
  name: text('name'),
  timezone: text('timezone'),
  /** Optimistic concurrency for PATCH /v1/users/me. */
  version: integer('version').notNull().default(1),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  /** Set when the user asked for erasure; the row itself is deleted by identity's purge right after. */
  deletedAt: timestamptz('deleted_at'),
});

/**
 * A Google account linked to a user (DESIGN 5): Google's stable `sub` is the key; the email is kept only
 * here, in the column made for it, and never logged or put in an event.
 */
export const googleIdentities = identitySchema.table('google_identities', {
  sub: text('sub').primaryKey(),
  userId: uuid('user_id')
    .notNull()
    .unique('google_identities_user_id_key')
    .references(() => users.id, { onDelete: 'cascade' }),
  email: text('email'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  lastSignInAt: timestamptz('last_sign_in_at').notNull().defaultNow(),
});

/**
 * One row per app install. The raw install id is never at rest: only its SHA-256 (hex) is stored, and
 * the unique key on it is what makes "same install id, same user" hold under concurrent first calls.
 */
export const devices = identitySchema.table(
  'devices',
  {
    installIdHash: text('install_id_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').notNull(),
    appVersion: text('app_version').notNull(),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    lastSeenAt: timestamptz('last_seen_at').notNull().defaultNow(),
  },
  (t) => [index('devices_user_id_idx').on(t.userId)],
);

/** A session is a refresh-token family; its id is the `sid` claim of every access token it issues. */
export const sessions = identitySchema.table(
  'sessions',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The device the session is bound to (hash of its install id); null for sessions without one. */
    installIdHash: text('install_id_hash'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    lastUsedAt: timestamptz('last_used_at').notNull().defaultNow(),
    revokedAt: timestamptz('revoked_at'),
    absoluteExpiresAt: timestamptz('absolute_expires_at').notNull(),
  },
  (t) => [
    index('sessions_user_id_idx')
      .on(t.userId)
      .where(sql`${t.revokedAt} is null`),
    // The revocation snapshot reads the sessions revoked within the last access-token lifetime.
    index('sessions_revoked_at_idx')
      .on(t.revokedAt, t.id)
      .where(sql`${t.revokedAt} is not null`),
  ],
);

/** Opaque refresh tokens, stored only as SHA-256 (hex) of the token. */
export const refreshTokens = identitySchema.table(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    /** Idle expiry: creation + REFRESH_IDLE_DAYS, never after the session's absolute expiry. */
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
    /**
     * The session's install id, AES-GCM sealed with a key derived from this refresh token, so the
     * raw install id (the `did` claim) is recoverable only by whoever presents the token (ADR 0009).
     */
    installIdSealed: text('install_id_sealed'),
    /** The token that replaced this one, sealed the same way; wiped once the grace window passed. */
    successorSealed: text('successor_sealed'),
  },
  (t) => [index('refresh_tokens_session_id_idx').on(t.sessionId)],
);

/**
 * Access-token signing keys. A key is published in the JWKS as soon as it exists; it signs from
 * `activated_at` (which `keys:rotate` sets in the future, so verifiers learn the key first) until
 * `retired_at` (the next key's activation), and stays published after retirement until every token it
 * signed has expired (`retired_at` + access-token lifetime).
 */
export const signingKeys = identitySchema.table(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    alg: text('alg').notNull(),
    publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
    privateJwk: jsonb('private_jwk').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    activatedAt: timestamptz('activated_at'),
    retiredAt: timestamptz('retired_at'),
  },
  // At most one key per algorithm without a retirement time: the newest, which every other key makes way for.
  (t) => [
    uniqueIndex('signing_keys_one_active_idx')
      .on(t.alg)
      .where(sql`${t.activatedAt} is not null and ${t.retiredAt} is null`),
  ],
);

/**
 * Logout-all and erasure cutoffs: access tokens of `user_id` issued at or before `revoked_before` are
 * refused. Kept only while such a token could still be alive; no foreign key, it outlives an erased user.
 */
export const sessionCutoffs = identitySchema.table('session_cutoffs', {
  userId: uuid('user_id').primaryKey(),
  revokedBefore: timestamptz('revoked_before').notNull(),
});

/**
 * Account erasures (DESIGN 5). No user id: confirmations are matched by erasure id, and the status is
 * read by it, so nothing here points back to the erased user.
 */
export const erasures = identitySchema.table('erasures', {
  id: uuid('id').primaryKey(),
  requestedAt: timestamptz('requested_at').notNull(),
  completedAt: timestamptz('completed_at'),
  /** The services that must confirm (ERASURE_SERVICES at request time). */
  expectedServices: text('expected_services').array().notNull(),
});

export const erasureConfirmations = identitySchema.table(
  'erasure_confirmations',
  {
    erasureId: uuid('erasure_id')
      .notNull()
      .references(() => erasures.id, { onDelete: 'cascade' }),
    service: text('service').notNull(),
    purgedAt: timestamptz('purged_at').notNull(),
    /** What the service deleted: counts per table or kind. */
    erased: jsonb('erased').$type<Record<string, number>>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.erasureId, t.service] })],
);

/**
 * Token buckets for session issuance limits, shared by every replica. Keys are `ip:` or `install:` plus a
 * SHA-256, never the raw address or install id.
 */
export const rateLimitBuckets = identitySchema.table('rate_limit_buckets', {
  key: text('key').primaryKey(),
  tokens: doublePrecision('tokens').notNull(),
  allowed: boolean('allowed').notNull(),
  updatedAt: timestamptz('updated_at').notNull(),
});

export const outbox = outboxTable(identitySchema);
export const inbox = inboxTable(identitySchema);

export const schema = {
  users,
  googleIdentities,
  devices,
  sessions,
  refreshTokens,
  signingKeys,
  sessionCutoffs,
  erasures,
  erasureConfirmations,
  rateLimitBuckets,
  outbox,
  inbox,
};
export type IdentitySchema = typeof schema;
