import {
  createLocalJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';

/** Google's two spellings of its issuer (DESIGN 5). */
export const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];

/** Who a verified Google ID token speaks for. */
export interface GoogleIdentity {
  /** Google's stable account id. */
  sub: string;
  email: string | undefined;
}

/** Why a token was refused: for the server log only, never for the client. */
export type GoogleRejection =
  | 'malformed'
  | 'algorithm'
  | 'unknown_key'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer'
  | 'audience'
  | 'email_unverified'
  | 'claims';

export class GoogleTokenRejected extends Error {
  constructor(readonly reason: GoogleRejection) {
    super(`google id token rejected: ${reason}`);
    this.name = 'GoogleTokenRejected';
  }
}

/** Google's keys could not be fetched and none are cached: not the user's fault. */
export class GoogleKeysUnavailable extends Error {
  constructor(cause: unknown) {
    super('google signing keys are unavailable', { cause });
    this.name = 'GoogleKeysUnavailable';
  }
}

export interface GoogleIdTokenVerifier {
  /** False when no client id is configured: Google sign-in is then unavailable. */
  readonly configured: boolean;
  verify(idToken: string): Promise<GoogleIdentity>;
}

export interface GoogleIdTokenVerifierOptions {
  jwksUrl: string;
  /** Accepted `aud` values (OAuth client ids). */
  clientIds: string[];
  /** At most one refetch per this many ms when a token names a key we do not know. */
  refetchCooldownMs: number;
  fetchTimeoutMs?: number;
  /** Used when the response has no usable Cache-Control max-age. */
  defaultMaxAgeSeconds?: number;
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
  clockToleranceSeconds?: number;
}

/** `max-age` of a Cache-Control header in seconds; 0 for no-store/no-cache; undefined when absent. */
export function maxAgeOf(cacheControl: string | null): number | undefined {
  if (!cacheControl) return undefined;
  if (/\b(no-store|no-cache)\b/i.test(cacheControl)) return 0;
  const match = /\bmax-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  return match ? Number(match[1]) : undefined;
}

/**
 * Verifies Google ID tokens (DESIGN 5): RS256 signature against Google's JWKS, `iss`, `aud` (one of the
 * configured client ids), `exp`/`nbf`, and `email_verified`. The key set is cached for the response's
 * Cache-Control max-age (capped at a day) and refetched early when a token names an unknown `kid`, at
 * most once per cooldown, so a flood of made-up `kid`s cannot turn into a flood of fetches. When a
 * refetch fails, the keys already known keep working.
 */
export function createGoogleIdTokenVerifier(options: GoogleIdTokenVerifierOptions): GoogleIdTokenVerifier {
  const timeoutMs = options.fetchTimeoutMs ?? 3_000;
  const defaultMaxAge = options.defaultMaxAgeSeconds ?? 300;
  const tolerance = options.clockToleranceSeconds ?? 5;
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = 0;
  let freshUntil = 0;
  let inflight: Promise<void> | undefined;

  const fetchKeys = (): Promise<void> => {
    inflight ??= (async () => {
      try {
        const response = await fetch(options.jwksUrl, { signal: AbortSignal.timeout(timeoutMs) });
        if (!response.ok) throw new Error(`google jwks answered ${response.status}`);
        const jwks = (await response.json()) as JSONWebKeySet;
        if (!Array.isArray(jwks?.keys)) throw new Error('google jwks has no keys');
        const maxAge = Math.min(maxAgeOf(response.headers.get('cache-control')) ?? defaultMaxAge, 86_400);
        keySet = createLocalJWKSet(jwks);
        fetchedAt = Date.now();
        freshUntil = fetchedAt + maxAge * 1000;
      } catch (error) {
        // Keep serving the keys we have; try again after the cooldown, not on every request.
        fetchedAt = Date.now();
        if (keySet) freshUntil = fetchedAt + Math.max(options.refetchCooldownMs, 1_000);
        else throw new GoogleKeysUnavailable(error);
      }
    })().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  const verifyOptions = {
    algorithms: ['RS256'],
    issuer: GOOGLE_ISSUERS,
    audience: options.clientIds,
    clockTolerance: tolerance,
  };

  const verifySignature = async (idToken: string) => {
    if (!keySet || Date.now() >= freshUntil) await fetchKeys();
    try {
      return await jwtVerify(idToken, keySet!, verifyOptions);
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey &&
        Date.now() - fetchedAt >= options.refetchCooldownMs
      ) {
        await fetchKeys();
        return jwtVerify(idToken, keySet!, verifyOptions);
      }
      throw error;
    }
  };

  return {
    configured: options.clientIds.length > 0,
    async verify(idToken) {
      if (options.clientIds.length === 0) throw new GoogleTokenRejected('audience');
      let payload: JWTPayload;
      try {
        ({ payload } = await verifySignature(idToken));
      } catch (error) {
        if (error instanceof GoogleKeysUnavailable) throw error;
        throw new GoogleTokenRejected(rejectionOf(error));
      }
      const verified = payload.email_verified === true || payload.email_verified === 'true';
      if (!verified) throw new GoogleTokenRejected('email_unverified');
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) {
        throw new GoogleTokenRejected('claims');
      }
      const email =
        typeof payload.email === 'string' && payload.email.length <= 320 ? payload.email : undefined;
      return { sub: payload.sub, email };
    },
  };
}

function rejectionOf(error: unknown): GoogleRejection {
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'issuer';
    if (error.claim === 'aud') return 'audience';
    if (error.claim === 'nbf' || error.claim === 'iat') return 'not_yet_valid';
    return 'claims';
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return 'unknown_key';
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return 'algorithm';
  }
  return 'malformed';
}
