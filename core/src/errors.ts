/**
 * Every error blankspot reports to a user has one of these codes. The HTTP status lives beside
 * the code so the API maps errors to responses in one place and the CLI can print the same words.
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  /** A known path asked with a method it does not take (the answer's Allow header lists those it does). */
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNDECODABLE_IMAGE: 422,
  IMAGE_TOO_LARGE: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  MODEL_UNAVAILABLE: 503,
  /** A checkpoint or model file that is missing, corrupt or of an unknown kind. */
  BAD_MODEL_FILE: 422,
  /** A data set or training option that cannot work (empty folder, unknown network...). */
  BAD_TRAINING_INPUT: 400,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class BlankspotError extends Error {
  override readonly name = 'BlankspotError';
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = ERROR_STATUS[code];
  }
}

export function isBlankspotError(e: unknown): e is BlankspotError {
  return e instanceof BlankspotError;
}

/** The JSON body every error response carries. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId?: string };
}

/** Any thrown value as an error body; unknown errors never leak their message or stack. */
export function toErrorBody(e: unknown, requestId?: string): { status: number; body: ErrorBody } {
  if (isBlankspotError(e)) {
    return { status: e.status, body: { error: { code: e.code, message: e.message, requestId } } };
  }
  return {
    status: ERROR_STATUS.INTERNAL,
    body: { error: { code: 'INTERNAL', message: 'internal error', requestId } },
  };
}
