// Every case of tests/vectors/bearer.json through `Verifier.authenticate`,
// with tokens the project's dev issuer mints over loopback: the same status,
// challenge and Retry-After as every tokenkeep host's HTTP layer.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Verifier, isTokenkeepError, CONCERNS } from 'tokenkeep'
import { startDevIssuer, vectorsDir } from './helpers.mjs'

const AUD = 'api://bearer'
const { cases } = JSON.parse(readFileSync(join(vectorsDir, 'bearer.json'), 'utf8'))
let idp, verifier

before(async () => {
  idp = await startDevIssuer()
  verifier = new Verifier({ issuer: idp.issuer, audience: AUD })
  assert.equal(await verifier.ready(10_000), true)
})

after(async () => {
  await verifier.close()
  await idp.stop()
})

/** An answer in the vectors' form. */
function answer(result) {
  if (result.ok) return { status: 200, scopes: result.scopes }
  const { status, headers, body } = result
  // Every refusal's error is a listed code (tests/vectors/codes.json).
  assert.ok([...CONCERNS.rejection, ...CONCERNS.denial].includes(body.error), body.error)
  return { status, error: body.error, www_authenticate: headers['www-authenticate'] ?? null, retry_after: headers['retry-after'] === undefined ? null : Number(headers['retry-after']) }
}

test('every case of bearer.json gets its answer from authenticate', async () => {
  assert.ok(cases.length >= 20)
  for (const c of cases) {
    const token = await idp.token({ sub: 'alice', aud: AUD, ...c.claims })
    const authorization = c.authorization === null ? undefined : c.authorization.replace('{token}', token)
    const result = await verifier.authenticate(authorization, { scopes: c.required, realm: c.realm })
    assert.deepEqual(answer(result), c.expect, c.name)
    if (result.ok) {
      assert.equal(result.claims.sub, 'alice', c.name)
      assert.equal(result.claims.aud, c.claims.aud ?? AUD, c.name)
    } else {
      assert.equal(result.headers['content-type'], 'application/json', c.name)
      assert.ok(!JSON.stringify(result).includes(token), `${c.name}: a denial never holds the token`)
    }
  }
})

test('keys nobody can fetch: 503 keys_unavailable with Retry-After and no challenge', async () => {
  const down = new Verifier({ issuer: idp.issuer, audience: AUD, jwksUrl: 'http://127.0.0.1:9/jwks' })
  try {
    const token = await idp.token({ sub: 'alice', aud: AUD })
    const result = await down.authenticate(`Bearer ${token}`, { scopes: ['orders:read'], realm: 'api' })
    assert.deepEqual(answer(result), { status: 503, error: 'keys_unavailable', www_authenticate: null, retry_after: 5 })
  } finally {
    await down.close()
  }
})

test('authenticate refuses arguments of the wrong type with invalid_type', async () => {
  for (const [authorization, options] of [[42, undefined], ['Bearer x', { scopes: 'orders:read' }], ['Bearer x', { scopes: [1] }], ['Bearer x', { realm: 7 }], ['Bearer x', 'orders:read']]) {
    await assert.rejects(verifier.authenticate(authorization, options), (e) => isTokenkeepError(e, 'invalid_type'), JSON.stringify([authorization, options]))
  }
  // null and undefined are "no header": a denial, not an error.
  for (const none of [null, undefined]) assert.equal((await verifier.authenticate(none)).status, 401)
})
