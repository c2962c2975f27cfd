// Interop with a peer nobody here wrote: tokens minted by `jose` verify,
// tampered ones fail with the right code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as jose from 'jose'
import { Verifier, TokenkeepError } from 'tokenkeep'
import { issued } from './helpers.mjs'

const ISS = 'https://jose.example'
const AUD = 'api://jose'
const ALGS = [
  ['RS256', {}],
  ['PS256', {}],
  ['ES256', {}],
  ['ES384', {}],
  ['EdDSA', { crv: 'Ed25519' }],
]

async function keyFor(alg, opts, kid) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { ...opts, extractable: true })
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { privateKey, jwk }
}

async function mint(privateKey, alg, kid, claims = {}, header = {}) {
  const now = Math.floor(Date.now() / 1000)
  const payload = { iss: ISS, aud: AUD, sub: 'user-1', iat: now, exp: now + 600, scope: 'read', ...claims }
  return issued(await new jose.SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'JWT', ...header }).sign(privateKey))
}

const flip = (s) => s.slice(0, -1) + (s.at(-1) === 'A' ? 'B' : 'A')

for (const [alg, opts] of ALGS) {
  test(`jose ${alg}: verifies; tampered signature, claims and header fail with their codes`, async () => {
    const { privateKey, jwk } = await keyFor(alg, opts, `k-${alg}`)
    const verifier = Verifier.fromJwks({ keys: [jwk] }, { issuer: ISS, audience: AUD })
    const token = await mint(privateKey, alg, jwk.kid, { tenant: 't1' })
    const claims = verifier.verifySync(token)
    assert.equal(claims.sub, 'user-1')
    assert.equal(claims.tenant, 't1')
    assert.deepEqual(await verifier.verify(token), claims)

    const [h, p, s] = token.split('.')
    const badSig = `${h}.${p}.${flip(s.slice(0, 20)) + s.slice(20)}`
    assert.throws(() => verifier.verifySync(badSig), (e) => e instanceof TokenkeepError && e.code === 'invalid_signature')
    const otherClaims = jose.base64url.encode(JSON.stringify({ ...jose.decodeJwt(token), sub: 'admin' }))
    assert.throws(() => verifier.verifySync(`${h}.${otherClaims}.${s}`), (e) => e.code === 'invalid_signature')
    const otherKid = await mint(privateKey, alg, 'not-published')
    await assert.rejects(verifier.verify(otherKid), (e) => e.code === 'unknown_kid')
    const wrongAud = await mint(privateKey, alg, jwk.kid, { aud: 'api://other' })
    assert.throws(() => verifier.verifySync(wrongAud), (e) => e.code === 'wrong_audience')
    const expired = await mint(privateKey, alg, jwk.kid)
    assert.throws(() => verifier.verifySync(expired, { now: Math.floor(Date.now() / 1000) + 7200 }), (e) => e.code === 'expired')
  })
}

test('jose HS256 with an explicitly configured secret; none and alg confusion refused', async () => {
  const secret = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff)
  const k = issued(jose.base64url.encode(secret))
  const verifier = new Verifier({ issuer: ISS, audience: AUD, algorithms: ['HS256'], jwks: { keys: [] }, hmacKeys: [{ kty: 'oct', kid: 'h1', alg: 'HS256', k }] })
  const token = await mint(secret, 'HS256', 'h1')
  assert.equal(verifier.verifySync(token).sub, 'user-1')
  const unsecured = issued(new jose.UnsecuredJWT({ iss: ISS, aud: AUD, sub: 'x' }).encode())
  assert.throws(() => verifier.verifySync(unsecured), (e) => e.code === 'alg_not_allowed')

  // An RS256 public key's bytes used as an HMAC secret must not verify.
  const { jwk } = await keyFor('RS256', {}, 'r1')
  const rsaOnly = Verifier.fromJwks({ keys: [jwk] }, { issuer: ISS, audience: AUD })
  const confused = await mint(new TextEncoder().encode(JSON.stringify(jwk)), 'HS256', 'r1')
  assert.throws(() => rsaOnly.verifySync(confused), (e) => ['alg_not_allowed', 'unknown_kid', 'invalid_signature'].includes(e.code))
})
