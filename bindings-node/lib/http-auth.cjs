'use strict'
// What Express, Fastify and Hono share: the verifier's `authenticate` (the
// Node build's and the edge build's alike, so the Hono middleware runs on
// workerd too) with the middleware's options. Every rule and answer is the
// runtime's; the frameworks only send it.

/**
 * `{ ok: true, claims, scopes }`, or the answer to send (`{ ok: false,
 * status, headers, body }`). Errors that are not a token's (a bug, a wrong
 * argument) are thrown to the framework.
 */
function authenticate(verifier, authorization, scopes, realm) {
  return verifier.authenticate(authorization, { scopes, realm })
}

module.exports = { authenticate }
