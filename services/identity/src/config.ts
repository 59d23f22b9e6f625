import { ErasureService } from '@offload/contracts';
import { baseServiceEnv, env, loadConfig } from '@offload/platform/config';
import { z } from 'zod';
import { parseKeyEncryptionKey } from './security/private-key-sealer.js';

/** Whole numbers within bounds, from an environment string. */
const bounded = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** A comma-separated list; blanks dropped. */
const commaList = (value: string) =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);

/** A key-encryption key: 32 bytes as base64 or base64url; empty is unset. Never echoed in an error. */
const keyEncryptionKey = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value.trim() === '') return undefined;
    const key = parseKeyEncryptionKey(value);
    if (!key) {
      ctx.addIssue({ code: 'custom', message: 'must be 32 bytes as base64 or base64url' });
      return z.NEVER;
    }
    return key;
  });

export const IdentityEnv = baseServiceEnv
  .extend({
    PORT: env.port(3001),
    /**
     * Who may set X-Forwarded-For (Fastify `trustProxy`): the gateway. `loopback` (default) fits one
     * machine; give the gateway's addresses or CIDRs in a cluster, `none` to trust nobody.
     */
    TRUSTED_PROXIES: z
      .string()
      .default('loopback')
      .transform((v) => (v.trim() === 'none' ? false : commaList(v)))
      .describe('addresses/CIDRs (or loopback) whose X-Forwarded-For is honoured'),
    /** Lifetime of an access token (DESIGN 5: 15 minutes). */
    ACCESS_TOKEN_TTL_SECONDS: bounded(900, 60, 3600).describe('access token lifetime in seconds'),
    /** A refresh token unused this long expires (DESIGN 5: 7 days). */
    REFRESH_IDLE_DAYS: bounded(7, 1, 90).describe('refresh token idle lifetime in days'),
    /** A session (refresh-token family) ends this long after it started, used or not (DESIGN 5: 30 days). */
    REFRESH_ABSOLUTE_DAYS: bounded(30, 1, 365).describe('session absolute lifetime in days'),
    /** An already-used refresh token presented this soon after its use returns the current pair. */
    REFRESH_GRACE_SECONDS: bounded(10, 0, 120).describe('refresh-token reuse grace window in seconds'),
    /** Google's ID-token signing keys; tests point this at a local fake. */
    GOOGLE_JWKS_URL: z
      .url({ protocol: /^https?$/ })
      .default('https://www.googleapis.com/oauth2/v3/certs')
      .describe('JWKS URL of the Google ID-token signing keys'),
    /** OAuth client ids whose ID tokens are accepted (`aud`); unset: Google sign-in answers 503. */
    GOOGLE_CLIENT_IDS: z
      .string()
      .optional()
      .transform((v) => (v === undefined ? [] : commaList(v)))
      .describe('comma-separated Google OAuth client ids'),
    /** At most one refetch of Google's keys per this many seconds when a token names an unknown key. */
    GOOGLE_JWKS_COOLDOWN_SECONDS: bounded(5, 0, 300),
    /** A new signing key is published this long before it starts signing (`keys:rotate`). */
    KEY_ACTIVATION_DELAY_SECONDS: bounded(600, 0, 7 * 86_400).describe(
      'seconds between publishing a rotated signing key and signing with it',
    ),
    /**
     * Seals the private signing keys at rest (AES-256-GCM, ADR 0011): 32 bytes as base64 or base64url,
     * e.g. `openssl rand -base64 32`. Unset: they are stored plain (and identity warns at start). The value
     * never appears in an error message.
     */
    SIGNING_KEY_ENCRYPTION_KEY: keyEncryptionKey.describe(
      '32-byte key (base64) that encrypts the private signing keys at rest',
    ),
    /**
     * The key-encryption key before SIGNING_KEY_ENCRYPTION_KEY, while it changes: it still opens the keys
     * it sealed, and identity seals them again with the new one at start (ADR 0011). Remove it once every
     * replica runs with the new key.
     */
    SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS: keyEncryptionKey.describe(
      'the previous SIGNING_KEY_ENCRYPTION_KEY, while the key changes (keys are re-sealed at start)',
    ),
    /** Session issuance limits (DESIGN 5): per client IP and per install id, per window. */
    SESSION_RATE_LIMIT_PER_IP: bounded(8, 1, 1_000_000),
    SESSION_RATE_LIMIT_PER_INSTALL_ID: bounded(4, 1, 1_000_000),
    SESSION_RATE_LIMIT_WINDOW_SECONDS: bounded(60, 1, 86_400),
    /** Services that must confirm an erasure before it is reported complete. */
    ERASURE_SERVICES: z
      .string()
      .default('identity,usage,tasks,ai,billing,voice')
      .transform(commaList)
      .pipe(z.array(ErasureService).min(1))
      .transform((list) => [...new Set<ErasureService>(['identity', ...list])])
      .describe('comma-separated services that purge user data on erasure'),
    /** `DELETE /v1/users/me` waits this long for every confirmation before answering 202 pending. */
    ERASURE_WAIT_SECONDS: bounded(10, 0, 60),
  })
  .refine((c) => c.REFRESH_IDLE_DAYS <= c.REFRESH_ABSOLUTE_DAYS, {
    path: ['REFRESH_IDLE_DAYS'],
    message: 'must not exceed REFRESH_ABSOLUTE_DAYS',
  });
export type IdentityConfig = z.infer<typeof IdentityEnv>;

export const loadIdentityConfig = (source: Record<string, string | undefined> = process.env) =>
  loadConfig('identity', IdentityEnv, source);
