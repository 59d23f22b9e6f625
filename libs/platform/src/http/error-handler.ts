import type { ErrorBody, ErrorCode, ErrorDetail } from '@offload/contracts';
import { hasZodFastifySchemaValidationErrors } from '@fastify/type-provider-zod';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

/** Fastify's own error codes, mapped once to our vocabulary. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'request_too_large', message: 'the request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: 'send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'validation_error',
    message: 'content-length does not match the body',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'validation_error', message: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'validation_error', message: 'the body is not valid JSON' },
};

export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const err = error as FastifyError & { validationContext?: string };
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? 'body';
    const details: ErrorDetail[] = err.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
      const keys = (v.params as { keys?: string[] }).keys;
      const field = keys?.length
        ? `${where}.${[path, keys.join(',')].filter(Boolean).join('.')}`
        : path
          ? `${where}.${path}`
          : where;
      return { field, message: v.message };
    });
    return new AppError('validation_error', 'the request is not valid', { details });
  }
  const mapped = err?.code ? FASTIFY_CODES[err.code] : undefined;
  if (mapped) return new AppError(mapped.code, mapped.message, { cause: error });
  if (err?.statusCode === 400 && err.code === undefined && err.name === 'SyntaxError') {
    return new AppError('validation_error', 'the body is not valid JSON', { cause: error });
  }
  if (typeof err?.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    if (err.statusCode === 404) return new AppError('not_found', 'not found', { cause: error });
    if (err.statusCode === 413)
      return new AppError('request_too_large', 'the request body is too large', { cause: error });
    if (err.statusCode === 415)
      return new AppError('unsupported_media_type', 'send application/json', { cause: error });
    return new AppError('validation_error', 'the request is not valid', { cause: error });
  }
  return new AppError('internal_error', 'something went wrong on our side', { cause: error });
}

export function envelopeOf(error: AppError, requestId: string): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      request_id: requestId,
      ...(error.details ? { details: error.details } : {}),
      ...(error.retryAfter !== undefined ? { retry_after: error.retryAfter } : {}),
      ...(error.refreshRequired ? { refresh_required: true as const } : {}),
    },
  };
}

/** The one error handler: every error, including validation and unknown routes, gets the envelope. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown) {
  const appError = toAppError(error);
  if (appError.status >= 500) {
    // Error class and code only: messages of driver or library errors may quote user input.
    const cause = appError.cause as { name?: string; code?: unknown } | undefined;
    request.log.error({ code: appError.code, cause: cause?.name, cause_code: cause?.code }, 'request failed');
  }
  if (appError.retryAfter !== undefined) reply.header('retry-after', String(appError.retryAfter));
  return reply
    .code(appError.status)
    .type('application/json; charset=utf-8')
    .send(envelopeOf(appError, request.id));
}
