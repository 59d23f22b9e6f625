import { z } from 'zod';

/**
 * Time-ordered UUIDs (RFC 9562 version 7): sortable by creation, so "newest first" pagination can use
 * the id as a stable tie-breaker, and index-friendly. Uses only Web Crypto, available in Node and
 * browsers, so contracts stay free of Node imports.
 */
export function newId(now: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  const ms = BigInt(now);
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const Id = z.uuid();
export type Id = z.infer<typeof Id>;

/** UTC timestamp in ISO-8601 with `Z` (DESIGN 1). */
export const Timestamp = z.iso.datetime();
