// @ts-check
// An Express API whose /orders routes need a valid access token, and whose
// POST needs the `orders:write` scope. Run it with
//   TOKENKEEP_ISSUER=https://idp.example TOKENKEEP_AUDIENCE=api://orders node examples/express.mjs
import express from 'express'
import { Verifier } from 'tokenkeep'
import { jwtAuth } from 'tokenkeep/express'

/** @param {Verifier} verifier */
export function createApp(verifier) {
  const app = express()
  app.use('/orders', jwtAuth(verifier))
  app.get('/orders', (req, res) => {
    res.json({ subject: req.auth?.sub ?? null, orders: [] })
  })
  app.post('/orders', jwtAuth(verifier, { scopes: ['orders:write'] }), (req, res) => {
    res.status(201).json({ createdBy: req.auth?.sub ?? null })
  })
  app.get('/health', (_req, res) => {
    res.json(verifier.health())
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const verifier = new Verifier({ issuer: process.env.TOKENKEEP_ISSUER, audience: process.env.TOKENKEEP_AUDIENCE })
  await verifier.ready(5000)
  createApp(verifier).listen(Number(process.env.PORT ?? 3000), '127.0.0.1')
}
