import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { envelopeOf, toAppError } from './error-handler.js';

describe('toAppError', () => {
  it('keeps an AppError with its status from the code table', () => {
    const error = toAppError(new AppError('not_found', 'task not found'));
    expect(error.status).toBe(404);
  });
  it('maps Fastify body errors to the vocabulary', () => {
    expect(
      toAppError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 })).code,
    ).toBe('request_too_large');
    expect(
      toAppError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }))
        .code,
    ).toBe('validation_error');
  });
  it('hides unknown errors behind internal_error', () => {
    const error = toAppError(new TypeError('secret detail from user input'));
    expect(error.code).toBe('internal_error');
    expect(error.message).not.toContain('secret');
  });
});

describe('envelopeOf', () => {
  it('writes only the fields that are set', () => {
    expect(envelopeOf(new AppError('rate_limited', 'slow down', { retryAfter: 3 }), 'rid')).toEqual({
      error: { code: 'rate_limited', message: 'slow down', request_id: 'rid', retry_after: 3 },
    });
    expect(
      envelopeOf(new AppError('expired_token', 'expired', { refreshRequired: true }), 'rid').error,
    ).toMatchObject({
      refresh_required: true,
    });
  });
});
