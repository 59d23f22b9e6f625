import { z } from 'zod';

/**
 * The one closed list of error codes (DESIGN 4), each mapped to exactly one HTTP status here and
 * nowhere else. Clients switch on `code`; the status follows from it.
 */
export const ERROR_STATUS = {
  validation_error: 422,
  request_too_large: 413,
  unauthorized: 401,
  invalid_token: 401,
  expired_token: 401,
  invalid_refresh_token: 401,
  google_auth_failed: 401,
  consent_required: 403,
  install_id_mismatch: 403,
  pro_tier_required: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  archived: 409,
  limit_exceeded: 409,
  idempotency_conflict: 409,
  identity_already_linked: 409,
  insufficient_credits: 402,
  unsupported_media_type: 415,
  quota_exceeded: 429,
  rate_limited: 429,
  session_rate_limited: 429,
  inference_rate_limited: 429,
  ai_task_limit_reached: 429,
  internal_error: 500,
  provider_request_failed: 502,
  provider_invalid_response: 502,
  bad_gateway: 502,
  provider_unavailable: 503,
  service_unavailable: 503,
  not_available_yet: 503,
  provider_timeout: 504,
  gateway_timeout: 504,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const errorCodes = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];
export const ErrorCode = z.enum(errorCodes);

export function statusOf(code: ErrorCode): number {
  return ERROR_STATUS[code];
}

export const ErrorDetail = z.object({ field: z.string(), message: z.string() });
export type ErrorDetail = z.infer<typeof ErrorDetail>;

export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    request_id: z.string(),
    details: z.array(ErrorDetail).optional(),
    retry_after: z.number().int().nonnegative().optional(),
    refresh_required: z.literal(true).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
