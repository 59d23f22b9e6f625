import { ACCESS_TOKEN_TYPE, newId } from '@offload/contracts';
import { SignJWT } from 'jose';
import { accessTokenClaims, type AccessTokenSubject } from '../domain/session.js';
import { SIGNING_ALG, type SigningKeyRing } from './signing-keys.js';

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
}

export interface AccessTokenIssuer {
  issue(subject: AccessTokenSubject, now: Date): Promise<IssuedAccessToken>;
}

/** Signs access tokens (JWT, `typ: at+jwt`, `kid` of the key active at `now`) with the claims of DESIGN 5. */
export function createAccessTokenIssuer(deps: {
  keyRing: SigningKeyRing;
  ttlSeconds: number;
}): AccessTokenIssuer {
  return {
    async issue(subject, now) {
      const claims = accessTokenClaims(subject, { now, ttlSeconds: deps.ttlSeconds, jti: newId() });
      const { kid, privateKey } = await deps.keyRing.signingKey(now);
      const token = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYPE })
        .sign(privateKey);
      return { token, expiresAt: new Date(claims.exp * 1000) };
    },
  };
}
