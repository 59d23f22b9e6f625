import { createHash } from 'node:crypto';
import {
  ACCESS_TOKEN_AUDIENCE,
  ACCESS_TOKEN_ISSUER,
  ACCESS_TOKEN_TYPE,
  AccessTokenClaims,
  Jwks,
  identityJwksRpc,
} from '@offload/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet } from 'jose';
import { LRUCache } from 'lru-cache';
import { AppError } from '../errors.js';
import { callRpc, type Bus } from '../nats/index.js';
import type { RevocationCheck } from './revocations.js';

export {
  createRevocationList,
  RevocationSet,
  type RevocationCheck,
  type RevocationList,
  type RevocationListOptions,
} from './revocations.js';

/** Who a verified access token speaks for. */
export interface AuthUser {
  userId: string;
  sessionId: string;
  installId: string | undefined;
  tier: 'free' | 'pro';
  anonymous: boolean;
  expiresAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser;
  }
}

/** Where the public signing keys come from: identity over HTTP (gateway) or NATS (services). */
export type JwksSource = () => Promise<Jwks>;

export function httpJwksSource(url: string): JwksSource {
  return async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    if (!response.ok) throw new Error(`jwks fetch failed with ${response.status}`);
    return Jwks.parse(await response.json());
  };
}

export function natsJwksSource(bus: Bus): JwksSource {
  return () => callRpc(bus, identityJwksRpc, {}, { timeoutMs: 3_000 });
}

export interface TokenVerifierOptions {
  source: JwksSource;
  issuer?: string;
  audience?: string;
  /** Verified tokens kept until they expire; bounded. */
  cacheSize?: number;
  /** At most one refetch of the key set per this many ms when an unknown `kid` arrives. */
  refetchCooldownMs?: number;
  /** Key sets are refreshed in the background this often. */
  refreshIntervalMs?: number;
  /**
   * Revoked sessions (e.g. `createRevocationList`): checked on every call, cache hits included, so a
   * revoked session's tokens stop working without waiting for them to expire. Default: none.
   */
  revocations?: RevocationCheck;
}

export interface TokenVerifier {
  verify(token: string): Promise<AuthUser>;
}

/**
 * Verifies access tokens locally (DESIGN 5): EdDSA only, `typ` pinned, `iss`/`aud`/`exp`/`nbf` checked.
 * The key set is cached and refetched when a token names an unknown `kid`. A verified token is cached by
 * its SHA-256 until it expires, because signature checks halve a proxy's throughput (STACK notes).
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const issuer = options.issuer ?? ACCESS_TOKEN_ISSUER;
  const audience = options.audience ?? ACCESS_TOKEN_AUDIENCE;
  const cooldown = options.refetchCooldownMs ?? 5_000;
  const refreshInterval = options.refreshIntervalMs ?? 10 * 60_000;
  const verified = new LRUCache<string, { user: AuthUser; iat: number }>({
    max: options.cacheSize ?? 10_000,
  });
  const revocations = options.revocations;
  const refuseRevoked = (user: AuthUser, iat: number) => {
    if (revocations?.isRevoked(user.sessionId, user.userId, iat))
      throw new AppError('invalid_token', 'the session of this access token has been revoked');
  };
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = 0;
  let inflight: Promise<void> | undefined;

  const load = (): Promise<void> => {
    inflight ??= options
      .source()
      .then((jwks) => {
        keySet = createLocalJWKSet(jwks as JSONWebKeySet);
        fetchedAt = Date.now();
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };

  const verifyOptions = { issuer, audience, algorithms: ['EdDSA'], typ: ACCESS_TOKEN_TYPE };

  const verifyWith = async (token: string) => {
    if (!keySet || Date.now() - fetchedAt > refreshInterval) {
      await load().catch((error) => {
        if (!keySet)
          throw new AppError('service_unavailable', 'token keys are not available', { cause: error });
      });
    }
    try {
      return await jwtVerify(token, keySet!, verifyOptions);
    } catch (error) {
      if (error instanceof joseErrors.JWKSNoMatchingKey && Date.now() - fetchedAt > cooldown) {
        await load().catch(() => undefined);
        return jwtVerify(token, keySet!, verifyOptions);
      }
      throw error;
    }
  };

  return {
    async verify(token) {
      const cacheKey = createHash('sha256').update(token).digest('base64url');
      const hit = verified.get(cacheKey);
      if (hit) {
        if (hit.user.expiresAt * 1000 > Date.now()) {
          refuseRevoked(hit.user, hit.iat);
          return hit.user;
        }
        verified.delete(cacheKey);
        throw new AppError('expired_token', 'the access token has expired', { refreshRequired: true });
      }
      let payload: unknown;
      try {
        ({ payload } = await verifyWith(token));
      } catch (error) {
        throw tokenError(error);
      }
      const claims = AccessTokenClaims.safeParse(payload);
      if (!claims.success) throw new AppError('invalid_token', 'the access token is not valid');
      const user: AuthUser = {
        userId: claims.data.sub,
        sessionId: claims.data.sid,
        installId: claims.data.did,
        tier: claims.data.tier,
        anonymous: claims.data.anon,
        expiresAt: claims.data.exp,
      };
      verified.set(
        cacheKey,
        { user, iat: claims.data.iat },
        { ttl: Math.max(1, user.expiresAt * 1000 - Date.now()) },
      );
      refuseRevoked(user, claims.data.iat);
      return user;
    },
  };
}

function tokenError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof joseErrors.JWTExpired) {
    return new AppError('expired_token', 'the access token has expired', { refreshRequired: true });
  }
  return new AppError('invalid_token', 'the access token is not valid', { cause: error });
}

/** Reads `Authorization: Bearer <jwt>`; anything else is 401. */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) throw new AppError('unauthorized', 'a bearer token is required');
  const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(header);
  if (!match) throw new AppError('invalid_token', 'the authorization header is not a bearer token');
  return match[1]!;
}

/**
 * An `onRequest` hook for encapsulated route plugins: routes registered inside the plugin require a
 * valid access token and get `request.user`.
 */
export function requireUser(verifier: TokenVerifier) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    request.user = await verifier.verify(bearerToken(request));
  };
}
