'use strict'
// The one error class of the `tokenkeep` package, shared by the native addon
// (Node) and the wasm build (edge runtimes) so `instanceof` holds whichever
// loaded it. Plain JS with no Node built-in: it runs on workerd and in
// browsers too. `code` is a stable snake_case code from
// tests/vectors/codes.json; `httpStatus` is set for rejections (503 for
// `keys_unavailable`, else 401, as the core says); the message never holds a
// token or a secret.

const BRAND = Symbol.for('tokenkeep.TokenkeepError')

class TokenkeepError extends Error {
  constructor(code, message, options) {
    super(message, options && options.cause !== undefined ? { cause: options.cause } : undefined)
    this.code = code
    if (options && options.httpStatus !== undefined) this.httpStatus = options.httpStatus
  }
}

Object.defineProperty(TokenkeepError.prototype, 'name', { value: 'TokenkeepError', writable: true, configurable: true })
Object.defineProperty(TokenkeepError.prototype, BRAND, { value: true })

/**
 * Whether `value` is a TokenkeepError (also one made by another copy of this
 * module, across realms or duplicated bundles), optionally with one of `codes`.
 */
function isTokenkeepError(value, ...codes) {
  const ok = value instanceof TokenkeepError || (value != null && typeof value === 'object' && value[BRAND] === true)
  return ok && (codes.length === 0 || codes.includes(value.code))
}

module.exports = { TokenkeepError, isTokenkeepError }
