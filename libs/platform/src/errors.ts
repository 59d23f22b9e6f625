import { statusOf, type ErrorCode, type ErrorDetail } from '@offload/contracts';

export interface AppErrorOptions {
  details?: ErrorDetail[];
  retryAfter?: number;
  refreshRequired?: boolean;
  cause?: unknown;
}

/**
 * The one error vocabulary (STYLE habit 3): throw `new AppError(code, message)`; the HTTP status comes
 * from the code in `libs/contracts`, and the platform's error handler writes the envelope.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[] | undefined;
  readonly retryAfter: number | undefined;
  readonly refreshRequired: boolean;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = statusOf(code);
    this.details = options.details;
    this.retryAfter = options.retryAfter;
    this.refreshRequired = options.refreshRequired ?? false;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
