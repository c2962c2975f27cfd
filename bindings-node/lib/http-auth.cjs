'use strict'
// What Express, Fastify and Hono answer, in one place and against the public
// Verifier API only (so the Hono middleware runs on the edge build too).
// The status comes from the runtime (`err.httpStatus`: 503 for
// `keys_unavailable`, else 401); 403 only for missing scopes.

const { isTokenkeepError } = require('./errors.cjs')

/** Seconds a client should wait after a 503 (keys unavailable), as the Rust axum layer answers. */
const RETRY_AFTER_SECONDS = 5

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive), else '' (the runtime then says `missing_token`). */
function bearerToken(authorization) {
  if (typeof authorization !== 'string') return ''
  const space = authorization.indexOf(' ')
  if (space < 0 || authorization.slice(0, space).toLowerCase() !== 'bearer') return ''
  return authorization.slice(space + 1).trim()
}

/** The scopes a token grants: `scope` (space-separated, RFC 8693/9068) or `scp` (string or list). */
function grantedScopes(claims) {
  const out = new Set()
  for (const value of [claims.scope, claims.scp]) {
    if (typeof value === 'string') for (const s of value.split(' ')) if (s) out.add(s)
    if (Array.isArray(value)) for (const s of value) if (typeof s === 'string') out.add(s)
  }
  return out
}

function denial(status, code, challenge, extra) {
  const headers = { 'content-type': 'application/json' }
  if (challenge) headers['www-authenticate'] = challenge
  return { ok: false, status, headers: { ...headers, ...extra }, body: { error: code } }
}

/**
 * Verifies the request's bearer token: `{ ok: true, claims }`, or the answer
 * to send (`{ ok: false, status, headers, body }`). Errors that are not a
 * token's (a closed verifier, a bug) are thrown to the framework.
 */
async function authenticate(verifier, authorization, scopes) {
  let claims
  try {
    claims = await verifier.verify(bearerToken(authorization))
  } catch (err) {
    if (!isTokenkeepError(err) || err.httpStatus === undefined) throw err
    if (err.httpStatus === 503) {
      return denial(503, err.code, null, { 'retry-after': String(RETRY_AFTER_SECONDS) })
    }
    if (err.code === 'missing_token') return denial(err.httpStatus, err.code, 'Bearer error="invalid_request"')
    return denial(err.httpStatus, err.code, `Bearer error="invalid_token", error_description="${err.code}"`)
  }
  if (scopes && scopes.length > 0) {
    const granted = grantedScopes(claims)
    if (!scopes.every((s) => granted.has(s))) {
      return denial(403, 'insufficient_scope', `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"`)
    }
  }
  return { ok: true, claims }
}

module.exports = { authenticate, bearerToken, grantedScopes, RETRY_AFTER_SECONDS }
