// Flows against the project's dev issuer (real OIDC discovery + JWKS over
// HTTP on 127.0.0.1): rotation without a wrongful rejection, an outage served
// from the cache, an unknown-kid flood bounded by the cooldown.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Verifier, isTokenkeepError } from 'tokenkeep'
import { startDevIssuer, sleep } from './helpers.mjs'

let idp
before(async () => {
  idp = await startDevIssuer(['--alg', 'ES256', '--alg', 'RS256', '--alg', 'EdDSA'])
})
after(() => idp.stop())

test('rotation: every token verifies across 5 key rotations, 0 wrongful rejections', async () => {
  // Rotations a second apart (real ones are hours apart): the miss cooldown is shortened to match.
  const verifier = new Verifier({ issuer: idp.issuer, audience: 'api://rotation', cache: { missCooldown: '1s' } })
  assert.equal(await verifier.ready(10_000), true)
  const wrongful = []
  let verified = 0
  const tokens = []
  for (let round = 0; round < 6; round++) {
    for (const alg of ['ES256', 'RS256', 'EdDSA']) {
      tokens.push(await idp.token({ sub: `user-${round}`, aud: 'api://rotation' }, { alg }))
    }
    // Fresh tokens from the current key and every earlier token (old keys stay published).
    for (const token of tokens) {
      try {
        await verifier.verify(token)
        verified++
      } catch (e) {
        wrongful.push(isTokenkeepError(e) ? e.code : String(e))
      }
    }
    if (round < 5) {
      await sleep(1100)
      await idp.rotate()
    }
  }
  assert.deepEqual(wrongful, [])
  assert.equal(verified, 3 * (1 + 2 + 3 + 4 + 5 + 6))
  assert.ok(verifier.rotations >= 5, `rotations seen: ${verifier.rotations}`)
  await verifier.close()
})

test('outage: known keys keep verifying while the JWKS answers 503, the failure is an event and in health()', async () => {
  const verifier = new Verifier({ issuer: idp.issuer, audience: 'api://outage', cache: { missCooldown: '1s' } })
  assert.equal(await verifier.ready(10_000), true)
  const token = await idp.token({ sub: 'during-outage', aud: 'api://outage' })
  assert.equal((await verifier.verify(token)).sub, 'during-outage')
  const failed = new Promise((resolve) => verifier.once('jwks_refresh_failed', resolve))
  await idp.outage(30, '503')
  try {
    verifier.refresh()
    const event = await failed
    assert.equal(event.name, 'jwks_refresh_failed')
    assert.equal(event.fields.error, 'http_5xx')
    assert.equal(event.fields.serving_stale, true)
    const [health] = verifier.health()
    assert.ok(health.consecutiveFailures >= 1)
    assert.equal(health.lastErrorCode, 'http_5xx')
    assert.equal(health.keyCount > 0, true)
    for (let i = 0; i < 50; i++) assert.equal(verifier.verifySync(token).sub, 'during-outage')
    assert.equal((await verifier.verify(token)).sub, 'during-outage')
  } finally {
    await idp.outage(0, '503')
    await verifier.close()
  }
})

test('unknown-kid flood: 300 tokens naming unknown kids cost at most one JWKS fetch per cooldown', async () => {
  const verifier = new Verifier({ issuer: idp.issuer, audience: 'api://flood' })
  assert.equal(await verifier.ready(10_000), true)
  const good = await idp.token({ sub: 'flood', aud: 'api://flood' })
  const [, payload, signature] = good.split('.')
  const jwksBefore = (await idp.stats()).by_endpoint['/jwks'] ?? 0
  const codes = new Map()
  const started = Date.now()
  for (let i = 0; i < 300; i++) {
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: `attacker-${i}`, typ: 'JWT' })).toString('base64url')
    try {
      await verifier.verify(`${header}.${payload}.${signature}`)
    } catch (e) {
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1)
    }
  }
  const elapsed = (Date.now() - started) / 1000
  const fetches = ((await idp.stats()).by_endpoint['/jwks'] ?? 0) - jwksBefore
  assert.deepEqual([...codes], [['unknown_kid', 300]])
  // The default cooldown is 30 s: one fetch, plus one more per 30 s the flood lasted.
  assert.ok(fetches <= 1 + Math.floor(elapsed / 30), `${fetches} JWKS fetches in ${elapsed}s`)
  assert.equal(verifier.verifySync(good).sub, 'flood', 'the real key still works')
  await verifier.close()
})

test('verify waits for one refetch when a token names a kid published after the last fetch', async () => {
  const verifier = new Verifier({ issuer: idp.issuer, audience: 'api://newkid', cache: { missCooldown: '1s' } })
  assert.equal(await verifier.ready(10_000), true)
  await sleep(1100)
  await idp.rotate()
  const token = await idp.token({ sub: 'new-kid', aud: 'api://newkid' })
  assert.throws(() => verifier.verifySync(token), (e) => e.code === 'unknown_kid', 'verifySync never touches the network')
  assert.equal((await verifier.verify(token)).sub, 'new-kid')
  assert.equal(verifier.verifySync(token).sub, 'new-kid')
  await verifier.close()
})
