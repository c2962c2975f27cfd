'use strict'
// Express middleware: `app.use(jwtAuth(verifier))` puts the verified claims
// on `req.auth`, or answers 401 / 403 / 503 as every tokenkeep host does.

const { authenticate } = require('./http-auth.cjs')

/** Middleware verifying `Authorization: Bearer`; `scopes` must all be granted (else 403). */
function jwtAuth(verifier, options) {
  const scopes = (options && options.scopes) || []
  const realm = options && options.realm
  return function tokenkeepJwtAuth(req, res, next) {
    authenticate(verifier, req.headers.authorization, scopes, realm).then((result) => {
      if (result.ok) {
        req.auth = result.claims
        next()
      } else {
        res.status(result.status).set(result.headers).send(JSON.stringify(result.body))
      }
    }, next)
  }
}

module.exports = { jwtAuth }
