// @ts-check
// A Hono app (here on Node with @hono/node-server; the same middleware runs on
// workerd with the edge build).
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import { Verifier } from 'tokenkeep'
import { jwtAuth } from 'tokenkeep/hono'

/** @param {Verifier} verifier */
export function createApp(verifier) {
  /** @type {Hono<{ Variables: import('tokenkeep/hono').AuthVariables }>} */
  const app = new Hono()
  app.use('/orders', jwtAuth(verifier))
  app.get('/orders', (c) => c.json({ subject: c.get('auth').sub ?? null, orders: [] }))
  app.post('/orders', jwtAuth(verifier, { scopes: ['orders:write'] }), (c) => c.json({ createdBy: c.get('auth').sub ?? null }, 201))
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const verifier = new Verifier({ issuer: process.env.TOKENKEEP_ISSUER, audience: process.env.TOKENKEEP_AUDIENCE })
  await verifier.ready(5000)
  serve({ fetch: createApp(verifier).fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' })
}
