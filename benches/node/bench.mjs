// tokenkeep's Node package against the Node JWT libraries people use today,
// per algorithm, on the same token and key, in one run. Every verifier checks
// the signature, iss, aud and exp. Prints microseconds per verification (the
// best of ROUNDS rounds, each the mean of a round's operations) and each
// peer's time divided by tokenkeep's `verifySync` (above 1: tokenkeep is faster).
//
//   make bench-node                 (builds, packs and installs tokenkeep first)
//   node bench.mjs [--ops 4000] [--rounds 7]
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto'
import { createRequire } from 'node:module'
import * as jose from 'jose'
import { createVerifier } from 'fast-jwt'
import jsonwebtoken from 'jsonwebtoken'
import { verifySync as napiVerifySync } from '@node-rs/jsonwebtoken'
import { Verifier } from 'tokenkeep'

const require = createRequire(import.meta.url)
const args = process.argv.slice(2)
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback)
const OPS = option('--ops', 4000)
const ROUNDS = option('--rounds', 7)
const ISS = 'https://bench.tokenkeep.test'
const AUD = 'api://bench'

const ALGS = {
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  EdDSA: () => generateKeyPairSync('ed25519'),
}

function rawVerifier(alg, publicKey, token) {
  // The floor a Node user reaches by hand: node:crypto on the same bytes with
  // a pre-imported KeyObject (no claims, no JSON, no base64 of the payload).
  const dot = token.lastIndexOf('.')
  const data = Buffer.from(token.slice(0, dot))
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  const digest = alg === 'EdDSA' ? null : 'sha256'
  const key = alg === 'ES256' ? { key: publicKey, dsaEncoding: 'ieee-p1363' } : publicKey
  return () => {
    if (!cryptoVerify(digest, data, key, signature)) throw new Error('raw verify failed')
  }
}

async function measureSync(fn) {
  for (let i = 0; i < Math.min(OPS, 500); i++) fn()
  let best = Infinity
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < OPS; i++) fn()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / OPS)
  }
  return best
}

async function measureAsync(fn) {
  for (let i = 0; i < Math.min(OPS, 500); i++) await fn()
  let best = Infinity
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < OPS; i++) await fn()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / OPS)
  }
  return best
}

function check(claims) {
  if (claims.sub !== 'bench-user') throw new Error('wrong claims')
  return claims
}

const results = []
for (const [alg, generate] of Object.entries(ALGS)) {
  const { publicKey, privateKey } = generate()
  const kid = `bench-${alg.toLowerCase()}`
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
  const now = Math.floor(Date.now() / 1000)
  const token = await new jose.SignJWT({ scope: 'orders:read', tenant: 'acme' })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setSubject('bench-user')
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })))

  const uncached = Verifier.fromJwks({ keys: [jwk] }, { issuer: ISS, audience: AUD, cache: { verifiedTokens: 0 } })
  const cached = Verifier.fromJwks({ keys: [jwk] }, { issuer: ISS, audience: AUD })
  const fastJwt = createVerifier({ key: publicPem, algorithms: [alg], allowedIss: ISS, allowedAud: AUD, cache: false })
  const fastJwtCached = createVerifier({ key: publicPem, algorithms: [alg], allowedIss: ISS, allowedAud: AUD, cache: true })
  const joseKey = createPublicKey(publicPem)
  const nodeRsAlg = alg
  const row = { alg, times: {} }
  const cases = [
    ['tokenkeep verifySync', 'sync', () => check(uncached.verifySync(token))],
    ['tokenkeep verify (await)', 'async', async () => check(await uncached.verify(token))],
    ['tokenkeep cache hit (verifySync)', 'sync', () => check(cached.verifySync(token))],
    ['tokenkeep cache hit (await verify)', 'async', async () => check(await cached.verify(token))],
    ['fast-jwt, cache off', 'sync', () => check(fastJwt(token))],
    ['fast-jwt, cache on', 'sync', () => check(fastJwtCached(token))],
    ['jose jwtVerify (await)', 'async', async () => check((await jose.jwtVerify(token, joseKey, { issuer: ISS, audience: AUD, algorithms: [alg] })).payload)],
    // jsonwebtoken 9 has no EdDSA.
    ['jsonwebtoken verify', alg === 'EdDSA' ? 'none' : 'sync', () => check(jsonwebtoken.verify(token, publicPem, { algorithms: [alg], issuer: ISS, audience: AUD }))],
    ['@node-rs/jsonwebtoken verifySync', 'sync', () => check(napiVerifySync(token, publicPem, { algorithms: [nodeRsAlg], iss: [ISS], aud: [AUD] }))],
    ['node:crypto verify (signature only)', 'sync', rawVerifier(alg, publicKey, token)],
  ]
  for (const [name, kind, fn] of cases) {
    row.times[name] = kind === 'none' ? NaN : kind === 'sync' ? await measureSync(fn) : await measureAsync(fn)
  }
  await uncached.close()
  await cached.close()
  results.push(row)
}

const names = Object.keys(results[0].times)
const pad = (s, n) => String(s).padEnd(n)
const versions = ['fast-jwt', 'jose', 'jsonwebtoken', '@node-rs/jsonwebtoken', 'tokenkeep']
  .map((p) => `${p} ${require(`${p}/package.json`).version}`)
  .join(', ')
console.log(`node ${process.version}; ${versions}; ${OPS} ops x best of ${ROUNDS} rounds`)
console.log(`${pad('us per verification (x = time / tokenkeep verifySync)', 40)}${results.map((r) => pad(r.alg, 20)).join('')}`)
for (const name of names) {
  const cells = results.map((r) => {
    const t = r.times[name]
    const base = r.times['tokenkeep verifySync']
    return pad(Number.isNaN(t) ? 'n/a' : `${t.toFixed(2)} (${(t / base).toFixed(2)}x)`, 20)
  })
  console.log(`${pad(name, 40)}${cells.join('')}`)
}
console.log('\nratios the issue sets as goals:')
for (const r of results) {
  const t = r.times
  console.log(
    `${pad(r.alg, 6)} fast-jwt uncached / verifySync ${(t['fast-jwt, cache off'] / t['tokenkeep verifySync']).toFixed(2)}x; ` +
      `node:crypto / verifySync ${(t['node:crypto verify (signature only)'] / t['tokenkeep verifySync']).toFixed(2)}x; ` +
      `fast-jwt cache hit / tokenkeep cache hit ${(t['fast-jwt, cache on'] / t['tokenkeep cache hit (verifySync)']).toFixed(2)}x`,
  )
}
