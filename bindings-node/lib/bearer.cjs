'use strict'
// The runtime's answer to a bearer-authenticated request, in the shape the
// framework middleware sends: shared by the native (Node) and the edge
// builds, so plain JS with no Node built-in. Conversions only: the status,
// challenge and Retry-After are the runtime's (`tokenkeep::Denial`); the
// rules (the header's token, the granted scopes, the answer per outcome) are
// the core's `bearer` module.

const { TokenkeepError } = require('./errors.cjs')

/** `authorization` as the runtime takes it: a header value, or null for none. */
function authorizationArg(authorization) {
  if (authorization === undefined || authorization === null) return null
  if (typeof authorization !== 'string') throw new TokenkeepError('invalid_type', 'authorization: must be a string (the header value) or undefined')
  return authorization
}

/** `{ scopes, realm }` of `authenticate`: the required scopes (a string array) and the realm (a string or none). */
function authOptions(options) {
  if (options === undefined || options === null) return { scopes: [], realm: null }
  if (typeof options !== 'object') throw new TokenkeepError('invalid_type', 'options: must be an object')
  const { scopes = [], realm = null } = options
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) {
    throw new TokenkeepError('invalid_type', 'scopes: must be an array of strings')
  }
  if (realm !== null && realm !== undefined && typeof realm !== 'string') throw new TokenkeepError('invalid_type', 'realm: must be a string')
  return { scopes, realm: realm ?? null }
}

/**
 * `{ ok: true, claims, scopes }` for a grant (`{ scopes }` from the runtime),
 * else `{ ok: false, status, headers, body: { error } }` from the runtime's
 * denial (`{ status, error, wwwAuthenticate, retryAfter }`).
 */
function bearerAnswer(answer, claims) {
  if (answer.status === undefined) return { ok: true, claims, scopes: answer.scopes }
  const headers = { 'content-type': 'application/json' }
  if (answer.wwwAuthenticate != null) headers['www-authenticate'] = answer.wwwAuthenticate
  if (answer.retryAfter != null) headers['retry-after'] = String(answer.retryAfter)
  return { ok: false, status: answer.status, headers, body: { error: answer.error } }
}

module.exports = { authorizationArg, authOptions, bearerAnswer }
