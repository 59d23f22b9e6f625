/** What the key rules need of a stored signing key. */
export interface SigningKeyTimes {
  kid: string;
  activatedAt: Date | null;
  retiredAt: Date | null;
}

/**
 * The key that signs at `now`: activated at or before `now`, not yet retired; the most recently
 * activated one when rotations overlap. Undefined when no key may sign.
 */
export function signingKeyAt<K extends SigningKeyTimes>(keys: K[], now: Date): K | undefined {
  let best: K | undefined;
  for (const key of keys) {
    if (key.activatedAt === null || key.activatedAt.getTime() > now.getTime()) continue;
    if (key.retiredAt !== null && key.retiredAt.getTime() <= now.getTime()) continue;
    if (!best || key.activatedAt.getTime() > best.activatedAt!.getTime()) best = key;
  }
  return best;
}

/**
 * Keys verifiers must know at `now`: every key from its creation (so a rotated key is published before
 * it signs) until `tokenTtlSeconds` after its retirement (the last token it signed has expired by then).
 */
export function isPublished(key: SigningKeyTimes, now: Date, tokenTtlSeconds: number): boolean {
  return key.retiredAt === null || key.retiredAt.getTime() + tokenTtlSeconds * 1000 > now.getTime();
}
