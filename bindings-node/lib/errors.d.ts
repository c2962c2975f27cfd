import type { TokenkeepErrorCode } from './codes'

export type { TokenkeepErrorCode } from './codes'

/**
 * Every failure tokenkeep reports: a rejected token, refused options, a
 * closed handle, an outbound handle with no value to give
 * (`not_yet_obtained`, `expired`, `fatal`, `closed`), a refused HMAC
 * signature (`bad_signature`, …), a caught panic (`internal_error`). The
 * message never holds a token or a secret.
 */
export declare class TokenkeepError<C extends TokenkeepErrorCode = TokenkeepErrorCode> extends Error {
  constructor(code: C, message: string, options?: { httpStatus?: number; path?: string; cause?: unknown })
  /** A stable snake_case code (tests/vectors/codes.json). */
  readonly code: C
  /** For rejections: the status the runtime gives the code (503 `keys_unavailable`, else 401). */
  readonly httpStatus?: number
  /** For refused options: the field path (`issuers[1].audience`; '' for the whole document). */
  readonly path?: string
  readonly name: 'TokenkeepError'
}

/** Whether `value` is a TokenkeepError, optionally with one of `codes`. */
export declare function isTokenkeepError<C extends TokenkeepErrorCode = TokenkeepErrorCode>(
  value: unknown,
  ...codes: C[]
): value is TokenkeepError<C>

/** Whether `code` is a code a TokenkeepError can carry. */
export declare function isErrorCode(code: string): code is TokenkeepErrorCode
