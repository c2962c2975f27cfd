// fast-check: arbitrary tokens, JWKS and options never crash the process;
// every failure is a TokenkeepError with a known code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Verifier, isTokenkeepError, isErrorCode } from 'tokenkeep'
import { vectorFiles } from './helpers.mjs'

const valid = vectorFiles().find((f) => f.file === 'valid.json').vectors
const verifiers = valid.slice(0, 8).map((v) => new Verifier({ jwks: v.jwks, hmac_keys: v.hmac_keys, policy: v.policy }))

function expectTokenkeepError(fn) {
  try {
    fn()
    return true
  } catch (e) {
    assert.ok(isTokenkeepError(e), `not a TokenkeepError: ${e && e.stack}`)
    assert.ok(isErrorCode(e.code), e.code)
    return false
  }
}

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const jsonish = fc.jsonValue({ maxDepth: 3 })
const segment = fc.oneof(fc.string(), fc.base64String(), jsonish.map(b64), fc.constant(''))
const token = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.tuple(segment, segment, segment).map((p) => p.join('.')),
  fc.tuple(fc.record({ alg: fc.oneof(fc.constantFrom('RS256', 'ES256', 'EdDSA', 'HS256', 'none', 'ES512'), fc.string()), kid: fc.option(fc.string()) }, { requiredKeys: [] }), jsonish, segment).map(([h, c, s]) => `${b64(h)}.${b64(c)}.${s}`),
  fc.constantFrom(...valid.map((v) => v.token)).chain((t) => fc.nat(t.length - 1).map((i) => t.slice(0, i) + 'x' + t.slice(i + 1))),
  fc.string({ minLength: 17000, maxLength: 17000 }),
)

test('arbitrary tokens: a verdict or a TokenkeepError, sync and async', async () => {
  await fc.assert(
    fc.asyncProperty(token, fc.option(fc.double({ noNaN: false })), async (t, now) => {
      for (const verifier of verifiers) {
        const options = now === null ? undefined : { now }
        expectTokenkeepError(() => verifier.verifySync(t, options))
        await verifier.verify(t, options).then(
          () => {},
          (e) => assert.ok(isTokenkeepError(e), String(e)),
        )
      }
    }),
    { numRuns: 300 },
  )
})

const jwk = fc.record(
  {
    kty: fc.oneof(fc.constantFrom('RSA', 'EC', 'OKP', 'oct', 'XYZ'), fc.string()),
    kid: fc.string(),
    alg: fc.oneof(fc.constantFrom('RS256', 'ES256', 'EdDSA', 'HS256', 'Ed448'), fc.string()),
    use: fc.constantFrom('sig', 'enc', 'x'),
    crv: fc.constantFrom('P-256', 'P-384', 'Ed25519', 'X25519', 'secp256k1'),
    n: fc.base64String(),
    e: fc.constantFrom('AQAB', 'AQ', ''),
    x: fc.base64String(),
    y: fc.base64String(),
    k: fc.base64String(),
    x5c: fc.array(fc.base64String(), { maxLength: 2 }),
  },
  { requiredKeys: [] },
)
const jwks = fc.oneof(fc.record({ keys: fc.array(fc.oneof(jwk, jsonish), { maxLength: 5 }) }), jsonish, fc.string())

const options = fc.record(
  {
    issuer: fc.oneof(fc.constant('http://127.0.0.1:9/'), fc.string(), fc.array(fc.string(), { maxLength: 3 }), jsonish),
    audience: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }), jsonish),
    jwks,
    jwksUrl: fc.oneof(fc.string(), fc.constant('http://127.0.0.1:9/jwks')),
    algorithms: fc.array(fc.oneof(fc.constantFrom('RS256', 'ES256', 'EdDSA', 'none'), fc.string()), { maxLength: 3 }),
    leeway: fc.oneof(fc.double(), fc.string(), fc.constantFrom('30s', '5m', '-1s', '1e400')),
    cache: fc.oneof(fc.record({ ttl: fc.oneof(fc.double(), fc.string()), verifiedTokens: fc.oneof(fc.integer(), fc.double()), missCooldown: fc.string() }, { requiredKeys: [] }), jsonish),
    http: fc.oneof(fc.record({ caFile: fc.string(), timeout: fc.string(), resolve: fc.dictionary(fc.string(), fc.string()) }, { requiredKeys: [] }), jsonish),
    policy: fc.oneof(fc.record({ issuers: fc.array(fc.string()), leeway_secs: fc.integer(), max_token_bytes: fc.integer() }, { requiredKeys: [] }), jsonish),
    issuers: fc.array(jsonish, { maxLength: 2 }),
    unknownOption: jsonish,
    fn: fc.constant(() => {}),
    big: fc.bigInt(),
  },
  { requiredKeys: [] },
)

// Generated options must never send a request off this machine: every string
// that looks like a URL is pointed at a closed loopback port.
function loopbackOnly(value) {
  if (typeof value === 'string') return value.includes(':') && !value.startsWith('http://127.0.0.1:9/') ? 'http://127.0.0.1:9/' : value
  if (Array.isArray(value)) return value.map(loopbackOnly)
  if (value !== null && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, loopbackOnly(v)]))
  }
  return value
}

test('arbitrary options and JWKS: a verifier or a TokenkeepError, never a crash', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(options, jsonish, fc.anything()).map(loopbackOnly), async (opts) => {
      let verifier = null
      const ok = expectTokenkeepError(() => {
        verifier = new Verifier(opts)
      })
      if (ok && verifier) {

        expectTokenkeepError(() => verifier.verifySync(valid[0].token, { now: valid[0].now }))
        verifier.health()
        await verifier.close()
      }
    }),
    { numRuns: 400 },
  )
})

test('arbitrary static JWKS: tokens against them give a verdict or a TokenkeepError', () => {
  fc.assert(
    fc.property(jwks, token, (set, t) => {
      let verifier = null
      if (expectTokenkeepError(() => (verifier = Verifier.fromJwks(set, { issuer: 'https://issuer.tokenkeep.test' })))) {
        expectTokenkeepError(() => verifier.verifySync(t))
      }
    }),
    { numRuns: 300 },
  )
})
