import { randomUUID } from 'node:crypto';
import { ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, ACCESS_TOKEN_TYPE, type Jwks } from '@offload/contracts';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/**
 * A signing key of the tests' own, with the same claims identity issues, for testing a service on its
 * own (its JWKS source is pointed at `jwks()`). End-to-end tests use real identity tokens instead.
 */
export async function createTestSigner() {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return {
    kid,
    privateKey: privateKey as CryptoKey,
    jwks: async (): Promise<Jwks> => ({ keys: [jwk] }),
    async token(
      claims: Partial<JWTPayload> & {
        sub?: string;
        sid?: string;
        did?: string;
        tier?: string;
        anon?: boolean;
      } = {},
      options: { kid?: string; typ?: string; expiresIn?: string | number } = {},
    ) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ sid: randomUUID(), tier: 'free', anon: true, did: 'install-test-0001', ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid: options.kid ?? kid, typ: options.typ ?? ACCESS_TOKEN_TYPE })
        .setIssuer(ACCESS_TOKEN_ISSUER)
        .setAudience(ACCESS_TOKEN_AUDIENCE)
        .setSubject(claims.sub ?? randomUUID())
        .setIssuedAt(now)
        .setJti(randomUUID())
        .setExpirationTime(options.expiresIn ?? now + 900)
        .sign(privateKey);
    },
  };
}
