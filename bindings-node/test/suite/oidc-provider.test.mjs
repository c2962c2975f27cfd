// Interop with a real OP nobody here wrote: node-oidc-provider on 127.0.0.1
// issues RFC 9068 JWT access tokens (client credentials, RS256 / ES256 /
// EdDSA); tokenkeep verifies them through OIDC discovery, also after the
// provider rotates its keys mid-test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import * as jose from 'jose'
import Provider from 'oidc-provider'
import { Verifier } from 'tokenkeep'
import { issued } from './helpers.mjs'

const RESOURCES = { 'api://rs256': 'RS256', 'api://es256': 'ES256', 'api://eddsa': 'EdDSA' }
const CLIENT_SECRET = issued('client-secret-' + Math.random().toString(36).slice(2) + '-long-enough')

async function privateJwk(alg, opts, kid) {
  const { privateKey } = await jose.generateKeyPair(alg, { ...opts, extractable: true })
  return { ...(await jose.exportJWK(privateKey)), kid, use: 'sig', alg }
}

async function keySet(generation) {
  return [
    await privateJwk('RS256', {}, `rsa-${generation}`),
    await privateJwk('ES256', {}, `ec-${generation}`),
    await privateJwk('EdDSA', { crv: 'Ed25519' }, `ed-${generation}`),
  ]
}

function provider(issuer, keys) {
  const p = new Provider(issuer, {
    clients: [
      {
        client_id: 'orders-service',
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      },
    ],
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'api://es256',
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          const alg = RESOURCES[resource]
          if (!alg) throw new Error(`unknown resource ${resource}`)
          return { scope: 'orders:read', audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg } } }
        },
      },
    },
  })
  p.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err.message))
  return p
}

async function accessToken(issuer, resource) {
  const r = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + Buffer.from(`orders-service:${CLIENT_SECRET}`).toString('base64'),
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: 'orders:read' }),
  })
  const body = await r.json()
  assert.equal(r.status, 200, JSON.stringify(body))
  return issued(body.access_token)
}

test('oidc-provider: RFC 9068 access tokens (RS256, ES256, EdDSA) verify through discovery, before and after a key rotation', async () => {
  let handler = null
  const server = createServer((req, res) => handler(req, res))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const issuer = `http://127.0.0.1:${server.address().port}`
  const first = await keySet(1)
  handler = provider(issuer, first).callback()

  const verifier = new Verifier({ issuer, audience: Object.keys(RESOURCES) })
  const refreshed = []
  verifier.on('jwks_refreshed', (e) => refreshed.push(e))
  try {
    assert.equal(await verifier.ready(10_000), true)
    const before = {}
    for (const [resource, alg] of Object.entries(RESOURCES)) {
      const token = await accessToken(issuer, resource)
      const header = jose.decodeProtectedHeader(token)
      assert.equal(header.typ, 'at+jwt', 'an RFC 9068 access token')
      assert.ok([alg, alg === 'EdDSA' ? 'Ed25519' : alg].includes(header.alg))
      const claims = await verifier.verify(token)
      assert.equal(claims.aud, resource)
      assert.equal(claims.client_id, 'orders-service')
      assert.equal(claims.iss, issuer)
      before[resource] = token
    }
    assert.equal(verifier.health()[0].state, 'fresh')

    // Rotation: new current keys, the old ones still published.
    const second = await keySet(2)
    handler = provider(issuer, [...second, ...first.map((k) => k)]).callback()
    for (const resource of Object.keys(RESOURCES)) {
      const token = await accessToken(issuer, resource)
      assert.match(jose.decodeProtectedHeader(token).kid, /-2$/)
      assert.equal((await verifier.verify(token)).aud, resource, 'a new kid is fetched, not rejected')
      assert.equal((await verifier.verify(before[resource])).aud, resource, 'the old key still verifies')
    }
    assert.ok(verifier.rotations >= 1)
    assert.ok(refreshed.length >= 2, `jwks_refreshed events: ${refreshed.length}`)
    assert.equal(refreshed.at(-1).fields.key_count, 6)
  } finally {
    await verifier.close()
    const closed = new Promise((r) => server.close(r))
    server.closeAllConnections()
    await closed
  }
})
