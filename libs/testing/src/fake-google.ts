import { randomInt, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** Claims of a Google ID token; anything set to `undefined` is left out of the token. */
export interface GoogleIdTokenClaims {
  iss?: string;
  aud?: string | string[];
  azp?: string;
  sub?: string;
  email?: string;
  email_verified?: boolean | string;
  name?: string;
  /** Seconds since the epoch. */
  iat?: number;
  exp?: number;
  nbf?: number;
  [claim: string]: unknown;
}

export interface FakeGoogle {
  /** The JWKS URL to configure as `GOOGLE_JWKS_URL`. */
  jwksUrl: string;
  /** The client id tokens are minted for by default. */
  clientId: string;
  /** The `kid` of the key currently signing. */
  readonly kid: string;
  /** Requests the JWKS endpoint answered. */
  readonly jwksRequests: number;
  /**
   * A real RS256 ID token. Defaults: `iss` https://accounts.google.com, `aud` and `azp` the client id, a
   * random numeric `sub`, an email for it, `email_verified: true`, issued now, valid one hour.
   * `signWith: 'unpublished'` signs with a key the JWKS never shows (same `kid`): a bad signature.
   */
  idToken(
    claims?: GoogleIdTokenClaims,
    options?: { signWith?: 'current' | 'unpublished'; kid?: string; alg?: 'RS256' },
  ): Promise<string>;
  /** A new signing key; with `keepOld` the previous one stays published (Google publishes two). */
  rotateKey(options?: { keepOld?: boolean }): Promise<string>;
  /** The Cache-Control header of the JWKS response (default `public, max-age=300`). */
  setCacheControl(value: string): void;
  /** While set, the JWKS endpoint answers this status instead of the keys. */
  failJwksWith(status: number | undefined): void;
  close(): Promise<void>;
}

interface KeyPair {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', {
    modulusLength: 2048,
    extractable: true,
  });
  const kid = randomUUID().replace(/-/g, '');
  return {
    kid,
    privateKey: privateKey as CryptoKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

/**
 * A local stand-in for Google's ID-token infrastructure at its network boundary (DESIGN 14): an HTTP
 * JWKS endpoint serving RSA public keys with a Cache-Control header, and a minter of real RS256 ID
 * tokens with whatever claims a test needs (audience, expiry, issuer, email_verified, sub, email).
 */
export async function startFakeGoogle(
  options: { clientId?: string; cacheControl?: string } = {},
): Promise<FakeGoogle> {
  const clientId = options.clientId ?? `${randomInt(1e11, 1e12)}-fake.apps.googleusercontent.com`;
  let current = await newKey();
  let published: KeyPair[] = [current];
  const unpublished = await newKey();
  let cacheControl = options.cacheControl ?? 'public, max-age=300';
  let failure: number | undefined;
  let jwksRequests = 0;

  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/oauth2/v3/certs') {
      response.writeHead(404).end();
      return;
    }
    jwksRequests++;
    if (failure !== undefined) {
      response.writeHead(failure, { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': cacheControl })
      .end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('fake google has no TCP address');

  return {
    jwksUrl: `http://127.0.0.1:${address.port}/oauth2/v3/certs`,
    clientId,
    get kid() {
      return current.kid;
    },
    get jwksRequests() {
      return jwksRequests;
    },
    async idToken(claims = {}, tokenOptions = {}) {
      const now = Math.floor(Date.now() / 1000);
      // Google subs are decimal strings of about 21 digits.
      const sub = claims.sub ?? `1${randomInt(1e9, 1e10)}${randomInt(1e9, 1e10)}`;
      const payload: Record<string, unknown> = {
        iss: 'https://accounts.google.com',
        aud: clientId,
        azp: clientId,
        sub,
        email: `user${sub.slice(-8)}@example.com`,
        email_verified: true,
        iat: now,
        exp: now + 3600,
        ...claims,
      };
      for (const [key, value] of Object.entries(payload)) if (value === undefined) delete payload[key];
      const key = tokenOptions.signWith === 'unpublished' ? unpublished : current;
      return new SignJWT(payload)
        .setProtectedHeader({
          alg: tokenOptions.alg ?? 'RS256',
          kid: tokenOptions.kid ?? current.kid,
          typ: 'JWT',
        })
        .sign(key.privateKey);
    },
    async rotateKey(rotateOptions = {}) {
      const next = await newKey();
      published = rotateOptions.keepOld ? [...published, next] : [next];
      current = next;
      return next.kid;
    },
    setCacheControl(value) {
      cacheControl = value;
    },
    failJwksWith(status) {
      failure = status;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
