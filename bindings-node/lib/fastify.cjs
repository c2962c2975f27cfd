'use strict'
// Fastify plugin: `app.register(tokenkeepAuth, { verifier, scopes })` puts the
// verified claims on `request.auth` for every route of the scope it is
// registered in, or answers 401 / 403 / 503 as every tokenkeep host does. A
// route's `config.scopes` adds scopes for that route.

const { authenticate } = require('./http-auth.cjs')

async function tokenkeepAuth(fastify, options) {
  const verifier = options.verifier
  const scopes = options.scopes || []
  fastify.decorateRequest('auth', null)
  fastify.addHook('onRequest', async (request, reply) => {
    const routeScopes = (request.routeOptions && request.routeOptions.config && request.routeOptions.config.scopes) || []
    const result = await authenticate(verifier, request.headers.authorization, [...scopes, ...routeScopes], options.realm)
    if (result.ok) {
      request.auth = result.claims
      return
    }
    return reply.code(result.status).headers(result.headers).send(JSON.stringify(result.body))
  })
}

// What fastify-plugin does: the hook and decorator apply to the registering
// scope, not only inside the plugin's own encapsulated context.
tokenkeepAuth[Symbol.for('skip-override')] = true
tokenkeepAuth[Symbol.for('fastify.display-name')] = 'tokenkeep'
tokenkeepAuth[Symbol.for('plugin-meta')] = { name: 'tokenkeep', fastify: '>=4' }

module.exports = { tokenkeepAuth, default: tokenkeepAuth }
