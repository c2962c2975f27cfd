'use strict'
// Conversions shared by the Verifier and the outbound handles: options to
// the JSON text the runtime's spec parser reads, native failures and
// Promises to TokenkeepErrors. No rule of its own.

const native = require('./native.cjs')
const { TokenkeepError, isTokenkeepError, isErrorCode } = require('./errors.cjs')

const HTTP_STATUS = Object.freeze(native.httpStatuses())
const INTERNAL = 'internal error in tokenkeep (a bug: please report it)'
// napi's own codes for an argument it could not convert.
const NAPI_ARGUMENT_CODES = new Set(['InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected', 'NumberExpected', 'BooleanExpected', 'ArrayExpected', 'BigintExpected'])

function rejected(r) {
  return new TokenkeepError(r.code, r.message, { httpStatus: HTTP_STATUS[r.code] })
}

/** A native throw as a TokenkeepError (napi's conversion messages are not passed on: they may quote the value). */
function fromNative(e) {
  if (isTokenkeepError(e)) return e
  const [code, path] = String(e && e.code).split(/\n(.*)/s)
  if (isErrorCode(code)) return new TokenkeepError(code, e.message, { httpStatus: HTTP_STATUS[code], path })
  if (NAPI_ARGUMENT_CODES.has(code)) return new TokenkeepError('invalid_type', 'an argument has the wrong type')
  return new TokenkeepError('internal_error', INTERNAL)
}

function optionValue(key, value) {
  const t = typeof value
  if (t === 'function' || t === 'symbol' || t === 'bigint') {
    throw new TokenkeepError('invalid_type', `${key === '' ? 'options' : key}: a ${t} is not an option value`)
  }
  return value
}

/** The options object as the JSON text the runtime's spec parser reads. */
function specJson(options) {
  if (options === undefined || options === null) return '{}'
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TokenkeepError('invalid_type', 'options: must be an object')
  }
  try {
    return JSON.stringify(options, optionValue)
  } catch (e) {
    if (isTokenkeepError(e)) throw e
    throw new TokenkeepError('invalid_type', `options: not representable as JSON (${e && e.message})`)
  }
}

function isPromise(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function'
}

async function settled(value) {
  if (!isPromise(value)) return value
  try {
    return await value
  } catch (e) {
    throw fromNative(e)
  }
}

module.exports = { HTTP_STATUS, INTERNAL, rejected, fromNative, specJson, isPromise, settled }
