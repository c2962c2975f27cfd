// The package's code lists and error class against tests/vectors/codes.json.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import * as esm from 'tokenkeep'
import { TokenkeepError as ErrorsEntry } from 'tokenkeep/errors'
import { codesJson } from './helpers.mjs'

const require = createRequire(import.meta.url)
const cjs = require('tokenkeep')

test('import and require give the same objects (one class identity)', () => {
  assert.equal(esm.Verifier, cjs.Verifier)
  assert.equal(esm.TokenkeepError, cjs.TokenkeepError)
  for (const name of ['VaultToken', 'VaultSecret', 'VaultLease', 'FileToken', 'HmacKeyring', 'Secret']) {
    assert.equal(typeof esm[name], 'function', name)
    assert.equal(esm[name], cjs[name], name)
  }
  assert.equal(ErrorsEntry, cjs.TokenkeepError)
  assert.equal(require('tokenkeep/errors').TokenkeepError, cjs.TokenkeepError)
})

test('the error codes are the credential_error, hmac, host, rejection and spec concerns of codes.json, and nothing else', () => {
  const expected = ['credential_error', 'hmac', 'host', 'rejection', 'spec'].flatMap((c) => codesJson.concerns[c].codes)
  assert.deepEqual([...esm.ERROR_CODES].sort(), [...new Set(expected)].sort())
  assert.deepEqual(esm.REJECTION_CODES, codesJson.concerns.rejection.codes)
  assert.deepEqual(esm.EVENT_NAMES, codesJson.concerns.event.codes)
  for (const [name, concern] of Object.entries(codesJson.concerns)) {
    assert.deepEqual(esm.CONCERNS[name], concern.codes, name)
  }
  for (const code of expected) assert.ok(esm.isErrorCode(code), code)
  assert.ok(!esm.isErrorCode('jwks_refreshed'))
})

test('TokenkeepError: one class, Node style code, a type guard', () => {
  const e = new esm.TokenkeepError('expired', 'expired at 1, now 2', { httpStatus: 401 })
  assert.ok(e instanceof Error)
  assert.equal(e.name, 'TokenkeepError')
  assert.equal(e.code, 'expired')
  assert.equal(e.httpStatus, 401)
  assert.ok(esm.isTokenkeepError(e))
  assert.ok(esm.isTokenkeepError(e, 'expired', 'malformed'))
  assert.ok(!esm.isTokenkeepError(e, 'malformed'))
  assert.ok(!esm.isTokenkeepError(new Error('x')))
  assert.ok(!esm.isTokenkeepError(null))
  assert.match(String(e), /^TokenkeepError: expired at 1, now 2$/)
})

test('a Rust panic surfaces as TokenkeepError internal_error, sync and async, and the process lives on', async () => {
  assert.throws(() => esm._debugPanic(), (e) => e instanceof esm.TokenkeepError && e.code === 'internal_error')
  await assert.rejects(esm._debugPanicAsync(), (e) => e instanceof esm.TokenkeepError && e.code === 'internal_error')
  const v = new esm.Verifier({ jwks: { keys: [] }, issuer: 'https://after.panic' })
  assert.throws(() => v.verifySync('a.b.c'), (e) => e.code === 'malformed')
})

test('rejections carry the status the runtime gives their code', () => {
  const v = new esm.Verifier({ jwks: { keys: [] }, issuer: 'https://issuer.example' })
  assert.throws(() => v.verifySync(''), (e) => e.code === 'missing_token' && e.httpStatus === 401)
})

test('the shared bad-options cases: each refused with its field path and code', async () => {
  const { badOptions } = await import('./helpers.mjs')
  assert.ok(badOptions.length >= 30)
  const wrong = []
  for (const c of badOptions) {
    try {
      new esm.Verifier(c.options)
      wrong.push(`${c.name}: accepted`)
    } catch (e) {
      if (!(e instanceof esm.TokenkeepError) || e.code !== c.code || e.path !== c.path) {
        wrong.push(`${c.name}: got ${e.code} at ${JSON.stringify(e.path)} (${e.message}), want ${c.code} at ${JSON.stringify(c.path)}`)
      }
    }
  }
  assert.deepEqual(wrong, [])
})
