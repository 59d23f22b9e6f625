/**
 * `npm run -w services/identity keys:rotate [-- --activate-in <seconds>]`
 *
 * Adds a new access-token signing key. It is published in the JWKS at once and starts signing after
 * KEY_ACTIVATION_DELAY_SECONDS (default 600 s; `--activate-in` overrides), which should exceed how long
 * verifiers cache the JWKS (the route says max-age=300). The keys it replaces stop signing at that moment
 * and stay published until their last token expired. Running identity replicas pick the change up on
 * their next key refresh (30 s). Prints one JSON line.
 */
import { parseArgs } from 'node:util';
import { createDatabase } from '@offload/platform/db';
import { loadIdentityConfig } from '../config.js';
import { schema } from '../db/schema.js';
import { createSigningKeyRepository } from '../db/signing-key-repository.js';
import { createPrivateKeySealer } from '../security/private-key-sealer.js';
import { rotateSigningKey } from '../use-cases/rotate-signing-key.js';

const { values } = parseArgs({ options: { 'activate-in': { type: 'string' } }, strict: true });
const config = loadIdentityConfig();
const delay =
  values['activate-in'] === undefined ? config.KEY_ACTIVATION_DELAY_SECONDS : Number(values['activate-in']);
if (!Number.isInteger(delay) || delay < 0) {
  process.stderr.write('--activate-in must be a whole number of seconds (0 or more)\n');
  process.exit(2);
}

const database = createDatabase({ url: config.DATABASE_URL, schema: 'identity', max: 1 }, schema);
try {
  const result = await rotateSigningKey(
    {
      signingKeyRepository: createSigningKeyRepository(database),
      sealer: createPrivateKeySealer(
        config.SIGNING_KEY_ENCRYPTION_KEY,
        config.SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS,
      ),
    },
    { activationDelaySeconds: delay },
  );
  process.stdout.write(
    `${JSON.stringify({
      kid: result.kid,
      activates_at: result.activatesAt.toISOString(),
      retiring: result.retiring.map((r) => ({
        kid: r.kid,
        retires_at: r.retiresAt.toISOString(),
        unpublished_after: new Date(
          r.retiresAt.getTime() + config.ACCESS_TOKEN_TTL_SECONDS * 1000,
        ).toISOString(),
      })),
    })}\n`,
  );
} finally {
  await database.close();
}
