// Every shared vector, through the package as an application imports it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Verifier, TokenkeepError, isTokenkeepError } from 'tokenkeep'
import { vectorFiles } from './helpers.mjs'

for (const { file, vectors } of vectorFiles()) {
  test(`shared vectors: ${file}`, () => {
    for (const v of vectors) {
      const verifier = new Verifier({ jwks: v.jwks, hmac_keys: v.hmac_keys, policy: v.policy })
      let claims, error
      try {
        claims = verifier.verifySync(v.token, { now: v.now })
      } catch (e) {
        error = e
      }
      if (v.expect.code !== undefined) {
        assert.ok(error instanceof TokenkeepError, `${v.name}: expected ${v.expect.code}, got claims`)
        assert.equal(error.code, v.expect.code, `${v.name}: ${error.message}`)
        assert.equal(error.httpStatus, v.expect.code === 'keys_unavailable' ? 503 : 401, v.name)
        assert.ok(!error.message.includes(v.token) || v.token === '', `${v.name}: the message quotes the token`)
      } else {
        assert.ok(!isTokenkeepError(error), `${v.name}: ${error && error.code} ${error && error.message}`)
        assert.deepEqual(claims, v.expect.claims, v.name)
      }
    }
  })
}

test('verify (async) agrees with verifySync on every vector', async () => {
  for (const { vectors } of vectorFiles()) {
    for (const v of vectors) {
      const verifier = Verifier.fromJwks(v.jwks, { hmac_keys: v.hmac_keys, policy: v.policy })
      const sync = (() => {
        try {
          return { claims: verifier.verifySync(v.token, { now: v.now }) }
        } catch (e) {
          return { code: e.code }
        }
      })()
      const viaPromise = await verifier.verify(v.token, { now: v.now }).then(
        (claims) => ({ claims }),
        (e) => ({ code: e.code }),
      )
      assert.deepEqual(viaPromise, sync, v.name)
    }
  }
})
