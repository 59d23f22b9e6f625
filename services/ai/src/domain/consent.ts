/**
 * Cloud consent (DESIGN 7): every `/v1/ai/*` request carries `X-Offload-Cloud-Opt-In: true`. The value is
 * compared case-insensitively after trimming; anything else (absent, `false`, `1`, `yes`, a list) is no.
 */
export const CONSENT_HEADER = 'x-offload-cloud-opt-in';

export function hasCloudConsent(value: string | string[] | undefined): boolean {
  if (typeof value !== 'string') return false;
  return value.trim().toLowerCase() === 'true';
}
