'use strict'
// Hono middleware: `app.use('/api/*', jwtAuth(verifier))` sets `c.get('auth')`
// to the verified claims, or answers 401 / 403 / 503 as every tokenkeep host
// does. Written against the public Verifier API only (`authenticate`), so the
// same middleware runs with the edge (WASM) build on workerd.

const { authenticate } = require('./http-auth.cjs')

function jwtAuth(verifier, options) {
  const scopes = (options && options.scopes) || []
  const realm = options && options.realm
  return async function tokenkeepJwtAuth(c, next) {
    const result = await authenticate(verifier, c.req.header('authorization'), scopes, realm)
    if (!result.ok) return c.body(JSON.stringify(result.body), result.status, result.headers)
    c.set('auth', result.claims)
    await next()
  }
}

module.exports = { jwtAuth }
