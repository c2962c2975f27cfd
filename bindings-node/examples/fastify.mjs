// @ts-check
// A Fastify API: every route registered after the plugin needs a valid access
// token; a route's `config.scopes` adds scopes it needs.
import Fastify from 'fastify'
import { Verifier } from 'tokenkeep'
import { tokenkeepAuth } from 'tokenkeep/fastify'

/** @param {Verifier} verifier */
export async function createApp(verifier) {
  const app = Fastify()
  await app.register(tokenkeepAuth, { verifier })
  app.get('/orders', async (request) => ({ subject: request.auth?.sub ?? null, orders: [] }))
  app.post('/orders', { config: { scopes: ['orders:write'] } }, async (request, reply) => {
    reply.code(201)
    return { createdBy: request.auth?.sub ?? null }
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const verifier = new Verifier({ issuer: process.env.TOKENKEEP_ISSUER, audience: process.env.TOKENKEEP_AUDIENCE })
  await verifier.ready(5000)
  const app = await createApp(verifier)
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
}
