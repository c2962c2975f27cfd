// The examples' Express, Fastify and Hono apps over real HTTP on 127.0.0.1:
// 200 with the claims, 401 invalid_token / invalid_request, 403
// insufficient_scope, 503 with Retry-After when no keys are usable.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import * as jose from 'jose'
import { serve } from '@hono/node-server'
import { Verifier } from 'tokenkeep'
import { createApp as expressApp } from '../examples/express.mjs'
import { createApp as fastifyApp } from '../examples/fastify.mjs'
import { createApp as honoApp } from '../examples/hono.mjs'
import { issued } from './helpers.mjs'

const ISS = 'https://frameworks.example'
const AUD = 'api://orders'
let key, verifier, down, tokens

async function mint(claims = {}, kid = 'f1') {
  const now = Math.floor(Date.now() / 1000)
  const payload = { iss: ISS, aud: AUD, sub: 'alice', iat: now, exp: now + 600, ...claims }
  return issued(await new jose.SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(key.privateKey))
}

before(async () => {
  key = await jose.generateKeyPair('ES256', { extractable: true })
  const jwk = { ...(await jose.exportJWK(key.publicKey)), kid: 'f1', alg: 'ES256' }
  verifier = Verifier.fromJwks({ keys: [jwk] }, { issuer: ISS, audience: AUD })
  // Keys that can never be fetched: a loopback port nobody listens on.
  const closed = createServer()
  await new Promise((r) => closed.listen(0, '127.0.0.1', r))
  const port = closed.address().port
  await new Promise((r) => closed.close(r))
  down = new Verifier({ issuer: ISS, audience: AUD, jwksUrl: `http://127.0.0.1:${port}/jwks` })
  tokens = {
    read: await mint({ scope: 'orders:read' }),
    write: await mint({ scope: 'orders:read orders:write' }),
    scp: await mint({ scp: ['orders:write'] }),
    expired: await mint({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }),
  }
})

after(async () => {
  await verifier.close()
  await down.close()
})

async function listen(kind, v) {
  if (kind === 'express') {
    const server = expressApp(v).listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
  }
  if (kind === 'fastify') {
    const app = await fastifyApp(v)
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    return { url, close: () => app.close() }
  }
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: honoApp(v).fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
}

const get = (url, token, method = 'GET') =>
  fetch(url, { method, headers: token === undefined ? {} : { authorization: token } })

for (const kind of ['express', 'fastify', 'hono']) {
  test(`${kind}: the same answers as every tokenkeep host`, async () => {
    const app = await listen(kind, verifier)
    try {
      let r = await get(`${app.url}/orders`, `Bearer ${tokens.read}`)
      assert.equal(r.status, 200)
      assert.equal((await r.json()).subject, 'alice')

      r = await get(`${app.url}/orders`, `bearer ${tokens.read}`)
      assert.equal(r.status, 200, 'the scheme is case-insensitive')

      r = await get(`${app.url}/orders`, undefined)
      assert.equal(r.status, 401)
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_request"')
      assert.deepEqual(await r.json(), { error: 'missing_token' })

      r = await get(`${app.url}/orders`, `Basic dXNlcjpwYXNz`)
      assert.equal(r.status, 401)
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_request"')

      r = await get(`${app.url}/orders`, `Bearer ${tokens.expired}`)
      assert.equal(r.status, 401)
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token", error_description="expired"')
      assert.ok(!(await r.text()).includes(tokens.expired))

      r = await get(`${app.url}/orders`, `Bearer not.a.jwt`)
      assert.equal(r.status, 401)
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token", error_description="malformed"')

      r = await get(`${app.url}/orders`, `Bearer ${tokens.read}`, 'POST')
      assert.equal(r.status, 403)
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="insufficient_scope", scope="orders:write"')
      assert.deepEqual(await r.json(), { error: 'insufficient_scope' })

      r = await get(`${app.url}/orders`, `Bearer ${tokens.write}`, 'POST')
      assert.equal(r.status, 201)
      r = await get(`${app.url}/orders`, `Bearer ${tokens.scp}`, 'POST')
      assert.equal(r.status, 201, 'scp (a list) grants scopes too')
    } finally {
      await app.close()
    }

    const outage = await listen(kind, down)
    try {
      const r = await get(`${outage.url}/orders`, `Bearer ${tokens.read}`)
      assert.equal(r.status, 503)
      assert.equal(r.headers.get('retry-after'), '5')
      assert.deepEqual(await r.json(), { error: 'keys_unavailable' })
    } finally {
      await outage.close()
    }
  })
}
