import { newId } from '@offload/contracts';
import type { TokenVerifier } from '@offload/platform/auth';
import type { Bus } from '@offload/platform/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type ServiceModule, type TestApp } from './build-test-app.js';
import { publishRevocation } from './revocation.js';
import { eventually } from './wait.js';

export interface SessionRevocationSuite<
  Config,
  Runtime extends { bus: Bus; verifier: TokenVerifier; close(): Promise<void> },
> {
  module: ServiceModule<Config, Runtime>;
  /** An authenticated route of the service, called with nothing but the token. */
  request: { method: 'GET' | 'POST'; url: string };
  /**
   * The status that route answers a valid token with (e.g. 403 when it needs a header the call leaves
   * out). Without it, any status but 401 shows the token passed.
   */
  verifiedStatus?: number;
}

/**
 * DESIGN 5: the service refuses access tokens of revoked sessions within 5 seconds of
 * `identity.session.revoked` (published on the test's own NATS prefix, as identity publishes it).
 * Declares the `revoked sessions in the <service> service` suite with its own app.
 */
export function describeSessionRevocation<
  Config,
  Runtime extends { bus: Bus; verifier: TokenVerifier; close(): Promise<void> },
>(suite: SessionRevocationSuite<Config, Runtime>): void {
  let t: TestApp<Runtime>;

  beforeAll(async () => {
    t = await buildTestApp(suite.module);
  });

  afterAll(async () => {
    await t?.close();
  });

  const call = (authorization: string) =>
    t.app.inject({ method: suite.request.method, url: suite.request.url, headers: { authorization } });
  const expectVerified = (statusCode: number) => {
    if (suite.verifiedStatus === undefined) expect(statusCode).not.toBe(401);
    else expect(statusCode).toBe(suite.verifiedStatus);
  };

  describe(`revoked sessions in the ${suite.module.name} service`, () => {
    it('refuses a token of a revoked session within 5 s, and every token of a user who logged out everywhere', async () => {
      const userId = newId();
      const sessionId = newId();
      const { authorization } = await t.auth({ sub: userId, sid: sessionId });
      const other = await t.auth({ sub: userId });
      // Verified (and cached) before the revocation.
      expectVerified((await call(authorization)).statusCode);
      expectVerified((await call(other.authorization)).statusCode);

      const revokedAt = Date.now();
      await publishRevocation(t.runtime.bus, { userId, sessionIds: [sessionId] });
      const refused = await eventually(async () => {
        const res = await call(authorization);
        return res.statusCode === 401 ? res : undefined;
      }, 5_000);
      expect(Date.now() - revokedAt).toBeLessThan(5_000);
      expect(refused.json().error.code).toBe('invalid_token');
      expect((await call(other.authorization)).statusCode).not.toBe(401);

      await publishRevocation(t.runtime.bus, { userId, all: true, reason: 'user_deleted' });
      await eventually(async () => (await call(other.authorization)).statusCode === 401, 5_000);
      await expect(
        t.runtime.verifier.verify(other.authorization.slice('Bearer '.length)),
      ).rejects.toMatchObject({
        code: 'invalid_token',
      });
    });
  });
}
