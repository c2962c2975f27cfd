// The package in a process's life: several worker_threads at once, a script
// that never calls close() still exits, events reach an EventEmitter, the
// prom-client collector exports the runtime's families.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { inspect } from 'node:util'
import { Registry } from 'prom-client'
import { Verifier, metricsText } from 'tokenkeep'
import { registerMetrics } from 'tokenkeep/prometheus'
import { startDevIssuer, vectorFiles } from './helpers.mjs'

const valid = vectorFiles().find((f) => f.file === 'valid.json').vectors

test('worker_threads: four workers verify at once, each with its own verifier, and end cleanly', async () => {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads')
    const { Verifier } = require('tokenkeep')
    let ok = 0
    for (let round = 0; round < 20; round++) {
      for (const v of workerData) {
        const verifier = new Verifier({ jwks: v.jwks, hmac_keys: v.hmac_keys, policy: v.policy })
        const claims = verifier.verifySync(v.token, { now: v.now })
        if (claims.sub === v.expect.claims.sub) ok++
      }
    }
    const shared = new Verifier({ jwks: workerData[0].jwks, policy: workerData[0].policy })
    shared.on('jwt_validation_failed', () => {})
    shared.verify(workerData[0].token, { now: workerData[0].now }).then((c) => parentPort.postMessage({ ok, async: c.sub }))
  `
  const results = await Promise.all(
    [0, 1, 2, 3].map(
      () =>
        new Promise((resolve, reject) => {
          const w = new Worker(source, { eval: true, workerData: valid.slice(0, 10) })
          let message
          w.on('message', (m) => (message = m))
          w.on('error', reject)
          w.on('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker exit ${code}`))))
        }),
    ),
  )
  for (const r of results) assert.deepEqual(r, { ok: 200, async: valid[0].expect.claims.sub })
})

function runScript(source, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    // A hang guard only: a script that keeps running has failed, however fast the machine.
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, out })
    })
  })
}

test('a script that starts verifiers (discovery, listeners, a pending ready) and never closes them exits by itself', async () => {
  const idp = await startDevIssuer()
  try {
    const r = await runScript(
      `
      import { Verifier } from 'tokenkeep'
      const v = new Verifier({ issuer: process.env.ISSUER, audience: 'api://exit' })
      v.on('jwks_refreshed', () => {})
      v.on('jwt_validation_failed', () => {})
      console.log('ready', await v.ready(10000))
      const token = await (await fetch(process.env.ISSUER + '/token', { method: 'POST', body: JSON.stringify({ claims: { iss: process.env.ISSUER, aud: 'api://exit', sub: 'exit' } }) })).json()
      console.log('sub', (await v.verify(token.token)).sub)
      try { v.verifySync('x.y.z') } catch (e) { console.log('rejected', e.code) }
      // A second verifier whose keys can never load, with a listener.
      const w = new Verifier({ issuer: 'http://127.0.0.1:9/' })
      w.on('jwks_refresh_failed', () => {})
      console.log('done')
    `,
      { ISSUER: idp.issuer },
    )
    assert.equal(r.signal, null, r.out)
    assert.equal(r.code, 0, r.out)
    assert.match(r.out, /ready true\nsub exit\nrejected malformed\ndone\n/)
  } finally {
    await idp.stop()
  }
})

test('events: jwt_validation_failed and jwks events reach the EventEmitter with the runtime data, never the token', async () => {
  const v = valid[0]
  const verifier = new Verifier({ jwks: v.jwks, policy: v.policy })
  // Listeners never keep the process alive (nor this test's event loop): hold it open while waiting.
  const keepAlive = setInterval(() => {}, 1000)
  const got = new Promise((resolve) => verifier.once('jwt_validation_failed', resolve))
  assert.throws(() => verifier.verifySync(v.token), (e) => e.code === 'expired')
  const event = await got
  clearInterval(keepAlive)
  assert.equal(event.name, 'jwt_validation_failed')
  assert.equal(event.fields.reason, 'expired')
  assert.equal(event.fields.issuer, v.expect.claims.iss)
  assert.equal(event.sourceKind, 'verifier')
  assert.ok(!JSON.stringify(event).includes(v.token))
  assert.equal(verifier.listenerCount('jwt_validation_failed'), 0)
})

test('util.inspect, JSON.stringify and String show no key material or option values', () => {
  const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA'
  const verifier = new Verifier({ issuer: 'https://inspect.example', jwks: { keys: [] }, hmacKeys: [{ kty: 'oct', kid: 'h', alg: 'HS256', k: secret }] })
  for (const text of [inspect(verifier, { depth: 10, showHidden: true }), JSON.stringify(verifier), String(verifier)]) {
    assert.ok(!text.includes(secret), text)
  }
  assert.equal(JSON.stringify(verifier), '{"issuers":["https://inspect.example"],"closed":false}')
})

test('prom-client: every runtime family is exported under the same name as on every host', async () => {
  const v = valid[0]
  const verifier = new Verifier({ jwks: v.jwks, policy: v.policy })
  verifier.verifySync(v.token, { now: v.now })
  assert.throws(() => verifier.verifySync(v.token))
  const registry = new Registry()
  const metrics = registerMetrics(registry)
  assert.equal(metrics.length, 13)
  const text = await registry.metrics()
  assert.match(text, /# TYPE auth_jwt_invalid_total counter/)
  assert.match(text, /auth_jwt_invalid_total\{reason="expired"\} [1-9]/)
  assert.match(text, /jwt_validation_duration_seconds_bucket\{result="valid",le="\+Inf"\} [1-9]/)
  assert.match(text, /jwt_validation_duration_seconds_count\{result="invalid"\} [1-9]/)
  assert.match(text, /# TYPE jwks_keys gauge/)
  const json = await registry.getMetricsAsJSON()
  assert.deepEqual(json.map((m) => m.name).sort(), metrics.map((m) => m.name).sort())
  assert.match(metricsText(), /auth_jwt_invalid_total\{reason="expired"\}/)
})
