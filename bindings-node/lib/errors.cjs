'use strict'
// The one error class of the package, shared by the native (Node) and the
// edge entry points so `instanceof` holds whichever loaded it. Plain JS with
// no Node built-in: it runs on workerd and in browsers too.

const { ERROR_CODES } = require('./codes.cjs')

const KNOWN = new Set(ERROR_CODES)
const BRAND = Symbol.for('tokenkeep.TokenkeepError')

/**
 * Every failure tokenkeep reports: a rejected token, refused options, a
 * closed handle, a caught panic (`internal_error`). `code` is a stable
 * snake_case code from tests/vectors/codes.json; `httpStatus` is set for
 * rejections (the status the runtime gives the code: 503 for
 * `keys_unavailable`, else 401); `path` for refused options (the field:
 * `issuers[1].audience`, '' for the whole document). The message never holds
 * a token or secret.
 */
class TokenkeepError extends Error {
  constructor(code, message, options) {
    super(message, options && options.cause !== undefined ? { cause: options.cause } : undefined)
    this.code = code
    if (options && options.httpStatus !== undefined) this.httpStatus = options.httpStatus
    if (options && options.path !== undefined) this.path = options.path
  }

}

Object.defineProperty(TokenkeepError.prototype, 'name', { value: 'TokenkeepError', writable: true, configurable: true })
Object.defineProperty(TokenkeepError.prototype, BRAND, { value: true })

/**
 * Whether `value` is a TokenkeepError (also one made by another copy of this
 * module, e.g. the edge build's), optionally with one of `codes`.
 */
function isTokenkeepError(value, ...codes) {
  const ok = value instanceof TokenkeepError || (value != null && typeof value === 'object' && value[BRAND] === true)
  return ok && (codes.length === 0 || codes.includes(value.code))
}

/** Whether `code` is a code a TokenkeepError can carry. */
function isErrorCode(code) {
  return KNOWN.has(code)
}

module.exports = { TokenkeepError, isTokenkeepError, isErrorCode }
