import type { RotationResult, SigningKeyRepository } from '../db/signing-key-repository.js';
import type { PrivateKeySealer } from '../security/private-key-sealer.js';
import { generateSigningKey } from '../security/signing-keys.js';

/**
 * Signing-key rotation (DESIGN 5): a new key is stored and published in the JWKS at once, and starts
 * signing only `activationDelaySeconds` later, when every verifier has had time to fetch it; the keys
 * it replaces stop signing then and stay published until their last token expired.
 */
export async function rotateSigningKey(
  deps: { signingKeyRepository: SigningKeyRepository; sealer: PrivateKeySealer },
  input: { activationDelaySeconds: number },
  now: Date = new Date(),
): Promise<RotationResult> {
  const activatesAt = new Date(now.getTime() + input.activationDelaySeconds * 1000);
  return deps.signingKeyRepository.rotate(await generateSigningKey(deps.sealer), activatesAt, now);
}
