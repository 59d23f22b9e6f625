import { z } from 'zod';
import { Id, Timestamp } from '../ids.js';

export const AnonymousSessionRequest = z
  .object({
    install_id: z.string().min(8).max(128),
    app_version: z.string().min(1).max(32),
    platform: z.string().min(1).max(32),
  })
  .strict();
export type AnonymousSessionRequest = z.infer<typeof AnonymousSessionRequest>;

export const TokenBundle = z.object({
  session_token: z.string(),
  expires_at: Timestamp,
  refresh_token: z.string(),
  user_id: Id,
  token_type: z.literal('Bearer'),
});
export type TokenBundle = z.infer<typeof TokenBundle>;

/** The signed-in user as `GET /v1/users/me` shows it (DESIGN 5). */
export const UserProfile = z.object({
  id: Id,
  anonymous: z.boolean(),
  tier: z.enum(['free', 'pro']),
  name: z.string().nullable(),
  timezone: z.string().nullable(),
  created_at: Timestamp,
  /** Optimistic-concurrency version: send it back with a PATCH to refuse stale updates (409 `conflict`). */
  version: z.number().int().positive(),
});
export type UserProfile = z.infer<typeof UserProfile>;

/**
 * True for an IANA time zone name the runtime knows (`Europe/Berlin`, `UTC`); false for UTC offsets
 * (`+01:00`), abbreviations the runtime rejects, and anything else.
 */
export function isIanaTimeZone(value: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(value)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** `PATCH /v1/users/me`: omitted = unchanged, `null` clears (DESIGN 4). */
export const UpdateUserRequest = z
  .object({
    /** 1-100 characters after trimming, no control characters. */
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      // A refinement, not a pattern: `\p{Cc}` needs the `u` flag, which JSON Schema consumers may lack.
      .refine((v) => !/\p{Cc}/u.test(v), 'must not contain control characters')
      .nullable()
      .optional(),
    timezone: z
      .string()
      .max(64)
      .refine(isIanaTimeZone, 'must be an IANA time zone such as Europe/Berlin')
      .nullable()
      .optional(),
    /** When given, the update applies only if the profile still has this version. */
    version: z.number().int().positive().optional(),
  })
  .strict();
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;

/** `POST /v1/auth/google`: a Google ID token (JWT) from Google Sign-In. */
export const GoogleSignInRequest = z.object({ id_token: z.string().min(1).max(8192) }).strict();
export type GoogleSignInRequest = z.infer<typeof GoogleSignInRequest>;

/** The token bundle plus the signed-in user. */
export const SignInResponse = TokenBundle.extend({ user: UserProfile });
export type SignInResponse = z.infer<typeof SignInResponse>;

export const RefreshRequest = z.object({ refresh_token: z.string().min(1).max(256) }).strict();
export type RefreshRequest = z.infer<typeof RefreshRequest>;

export const LogoutRequest = z.object({ refresh_token: z.string().min(1).max(256) }).strict();
export type LogoutRequest = z.infer<typeof LogoutRequest>;

/**
 * An account erasure (`DELETE /v1/users/me`): `completed` only once every expected service confirmed
 * it purged the user's rows; `erased` says what each one deleted (counts per table or kind).
 */
export const Erasure = z.object({
  erasure_id: Id,
  status: z.enum(['pending', 'completed']),
  requested_at: Timestamp,
  completed_at: Timestamp.nullable(),
  services: z.array(
    z.object({
      service: z.string(),
      status: z.enum(['pending', 'purged']),
      purged_at: Timestamp.nullable(),
      erased: z.record(z.string(), z.number().int().nonnegative()).nullable(),
    }),
  ),
});
export type Erasure = z.infer<typeof Erasure>;

/** Claims of an access token (DESIGN 5). */
export const AccessTokenClaims = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  sub: Id,
  sid: Id,
  did: z.string().optional(),
  tier: z.enum(['free', 'pro']),
  anon: z.boolean(),
  iat: z.number().int(),
  exp: z.number().int(),
  jti: z.string(),
});
export type AccessTokenClaims = z.infer<typeof AccessTokenClaims>;

export const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });
export type Jwks = z.infer<typeof Jwks>;

export const ACCESS_TOKEN_TYPE = 'at+jwt';
export const ACCESS_TOKEN_ISSUER = 'offload-cloud/identity';
export const ACCESS_TOKEN_AUDIENCE = 'offload-cloud';
