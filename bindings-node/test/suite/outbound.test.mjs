// The outbound handles against a real OpenBao and PostgreSQL started by the
// project's one launcher (`tokenkeep dev-stack --postgres`), with short TTLs
// so renewals, re-logins and lease replacements happen within a test. Every
// secret a test sees is recorded (issued) and printed redacted: the make
// target then searches all suite output for each.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect, promisify } from 'node:util'
import pg from 'pg'
import { EVENT_NAMES, FileToken, HmacKeyring, Secret, TokenkeepError, VaultLease, VaultSecret, VaultToken } from 'tokenkeep'
import { codesJson, issued, sleep, startDevStack } from './helpers.mjs'

const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-node-outbound-'))
let fileCount = 0
/** Writes `text` to a new file (or replaces `path` atomically, as Kubernetes does). */
function writeFile(text, path = join(dir, `f${fileCount++}`)) {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
  return path
}

/** Every runtime event of `handle`, printed (so the secret search reads them) and kept. */
function record(handle) {
  const seen = []
  for (const name of EVENT_NAMES) {
    handle.on(name, (event) => {
      console.log(`event ${JSON.stringify(event)}`)
      seen.push(event)
    })
  }
  return seen
}

/** The handle and its values, shown every way Node shows things, hold none of `secrets`; printed too. */
function noSecretShown(...things) {
  const secrets = things.filter((t) => typeof t === 'string')
  const shown = things
    .filter((t) => typeof t !== 'string')
    .flatMap((t) => [inspect(t, { depth: 5, showHidden: true }), JSON.stringify(t), String(t), `${t}`, JSON.stringify({ t })])
    .join('\n')
  console.log(shown)
  for (const secret of secrets) {
    issued(secret)
    assert.ok(!shown.includes(secret), 'a secret is shown')
  }
}

async function until(check, seconds, what) {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(100)
  }
  assert.fail(`not within ${seconds}s: ${what}`)
}

function isCode(...codes) {
  return (e) => {
    console.log(`thrown: ${e && e.code}: ${e && e.message}`)
    return e instanceof TokenkeepError && codes.includes(e.code)
  }
}

test('Secret: toString, JSON.stringify and util.inspect are redacted, expose() gives the value', () => {
  const value = issued('hunter2-very-secret-value')
  const s = new Secret(value)
  assert.equal(String(s), '[redacted]')
  assert.equal(`${s}`, '[redacted]')
  assert.equal(JSON.stringify({ s }), '{"s":"[redacted]"}')
  assert.equal(inspect(s), 'Secret [redacted]')
  assert.equal(s.expose(), value)
  noSecretShown(s, [s], { s }, value)
  const data = new Secret({ password: issued('data-password-0123') })
  noSecretShown(data, 'data-password-0123')
  assert.equal(data.expose().password, 'data-password-0123')
})

test('the new calls throw codes of the credential_error and hmac concerns, which the error codes include', async () => {
  const { ERROR_CODES } = await import('tokenkeep')
  for (const concern of ['credential_error', 'hmac']) {
    for (const code of codesJson.concerns[concern].codes) assert.ok(ERROR_CODES.includes(code), code)
  }
})

test('bad options: TokenkeepError with the runtime spec code and field path, from each constructor', () => {
  const addr = 'http://127.0.0.1:9'
  assert.throws(() => new VaultToken({ addr, jwtFile: '/nonexistent' }), (e) => isCode('missing_field')(e) && e.path === 'role' && /role/.test(e.message))
  assert.throws(() => new VaultToken({ role: 'app', addr, jwtFile: '/nonexistent', maxBackoff: 'forever' }), (e) => isCode('invalid_duration')(e) && e.path === 'maxBackoff')
  assert.throws(() => new VaultToken({ role: 'app', addr, jwtFile: '/nonexistent', bogus: 1 }), isCode('unknown_field'))
  assert.throws(() => new VaultToken('app'), isCode('invalid_type'))
  const token = new VaultToken({ role: 'app', addr, jwtFile: '/nonexistent' })
  assert.throws(() => new VaultSecret(token, { mount: 'secret', path: 'app/db', interval: '10ms' }), (e) => isCode('out_of_range')(e) && e.path === 'interval')
  assert.throws(() => new VaultLease(token, { path: '../x' }), (e) => isCode('invalid_vault_path')(e) && e.path === 'path')
  assert.throws(() => new VaultSecret({}, { mount: 'secret', path: 'x' }), isCode('invalid_type'))
  assert.throws(() => new FileToken({}), (e) => isCode('missing_field')(e) && /path/.test(e.message))
  assert.throws(() => new HmacKeyring({}), (e) => e instanceof TokenkeepError && codesJson.concerns.spec.codes.includes(e.code))
  return token.close()
})

test('no value yet, then closed: current() throws not_yet_obtained, then closed; close() is idempotent', async () => {
  // Nothing listens on port 9: the token is never obtained.
  const token = new VaultToken({ role: 'app', addr: 'http://127.0.0.1:9', jwtFile: '/nonexistent' })
  assert.equal(token.kind, 'vault_token')
  assert.equal(token.name, 'app@jwt')
  assert.throws(() => token.current(), isCode('not_yet_obtained'))
  assert.equal(await token.ready(200), false)
  const health = token.health()
  assert.equal(health.state, 'empty')
  assert.equal(health.kind, 'vault_token')
  assert.equal(token.closed, false)
  await token.close()
  await token.close()
  assert.equal(token.closed, true)
  assert.throws(() => token.current(), isCode('closed'))
  assert.equal(token.refresh(), false)
  const after = token.rotations()
  assert.deepEqual(await after.next(), { value: undefined, done: true })
})

test('a script that starts outbound handles with listeners and never closes them exits by itself', async () => {
  const hmac = writeFile(issued('0123456789abcdef-exit-test-secret'))
  const source = `
    const { VaultToken, FileToken, HmacKeyring } = require('tokenkeep')
    const token = new VaultToken({ role: 'app', addr: 'http://127.0.0.1:9', jwtFile: '/nonexistent' })
    token.on('credential_attempt_failed', () => {})
    const file = new FileToken({ path: '/nonexistent' })
    file.on('rotated', () => {})
    const ring = new HmacKeyring({ file: ${JSON.stringify(hmac)} })
    ring.on('credential_obtained', () => {})
    ring.ready(5000).then((ok) => console.log('ready ' + ok + ', version ' + ring.current()))
  `
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', source], { timeout: 30000 })
  assert.equal(stdout, 'ready true, version 1\n')
})

test('HmacKeyring on a file: sign/verify, refusals by code, and the previous key within its grace window', async () => {
  const first = issued('0123456789abcdef-first-hmac-secret')
  const path = writeFile(first)
  const ring = new HmacKeyring({ file: path, changePoll: 0.2, grace: '30s' })
  try {
    assert.equal(ring.kind, 'hmac_keyring')
    assert.equal(await ring.ready(10000), true)
    assert.equal(ring.current(), 1)
    const signature = ring.sign('POST', '/hook', 'body')
    assert.equal(ring.verify(signature, 'POST', '/hook', Buffer.from('body')), 1)
    assert.equal(ring.verify(signature, 'POST', '/hook', new TextEncoder().encode('body')), 1)
    assert.throws(() => ring.verify(signature, 'POST', '/hook', 'tampered'), isCode('bad_signature'))
    assert.throws(() => ring.verify('garbage', 'POST', '/hook', 'body'), isCode('malformed_signature'))
    assert.throws(() => ring.sign('POST', '/hook', 42), isCode('invalid_type'))
    const seen = []
    ring.on('rotated', (n) => seen.push(n))
    // A pending next() keeps the process alive; a listener alone does not.
    const rotations = ring.rotations()
    const second = issued('0123456789abcdef-second-hmac-secret')
    writeFile(second, path)
    assert.deepEqual(await rotations.next(), { value: 2, done: false })
    assert.equal(seen.at(-1), 2)
    assert.equal(ring.current(), 2)
    // The previous secret still verifies within its grace window; new signatures use the new one.
    assert.equal(ring.verify(signature, 'POST', '/hook', 'body'), 1)
    assert.equal(ring.verify(ring.sign('POST', '/hook', 'body'), 'POST', '/hook', 'body'), 2)
    noSecretShown(ring, ring.health(), first, second)
  } finally {
    await ring.close()
  }
  assert.throws(() => ring.current(), isCode('closed'))
})

describe('on OpenBao and PostgreSQL (tokenkeep dev-stack --postgres)', { concurrency: true }, () => {
  let stack
  before(async () => {
    stack = await startDevStack(['--postgres', '--token-ttl', '6s', '--token-max-ttl', '15s', '--lease-ttl', '5s', '--lease-max-ttl', '12s'])
  })
  after(() => stack?.stop())

  const vaultToken = async (options = {}) =>
    new VaultToken({
      role: stack.openbao.role,
      addr: stack.openbao.addr,
      authMount: stack.openbao.auth_mount,
      jwtFile: writeFile(await stack.loginJwt()),
      ...options,
    })

  const putKv = async (path, data) => {
    const r = await stack.bao('POST', `${stack.openbao.kv_mount}/data/${path}`, { body: { data } })
    assert.equal(r.status, 200, await r.clone().text())
    return (await r.json()).data.version
  }

  const lookupSelf = async (token) => (await stack.bao('GET', 'auth/token/lookup-self', { token })).status

  test('FileToken rereads a rewritten file', async () => {
    const first = await stack.loginJwt()
    const path = writeFile(first)
    const handle = new FileToken({ path, changePoll: 0.2 })
    try {
      assert.equal(handle.kind, 'file_token')
      assert.equal(await handle.ready(10000), true)
      const value = handle.current()
      assert.ok(value instanceof Secret)
      assert.equal(value.expose(), first)
      const rotations = handle.rotations()
      const second = await stack.loginJwt(900)
      writeFile(second, path)
      const { value: count } = await rotations.next()
      assert.ok(count >= 2, `rotation ${count}`)
      assert.equal(handle.current().expose(), second)
      noSecretShown(handle, handle.current(), handle.health(), first, second)
    } finally {
      await handle.close()
    }
  })

  test('VaultToken from a JWT file logs in, renews, and logs in again at token_max_ttl', async () => {
    const token = await vaultToken()
    const events = record(token)
    const rotated = []
    token.on('rotated', (n) => rotated.push(n))
    try {
      assert.equal(token.name, `${stack.openbao.role}@${stack.openbao.auth_mount}`)
      assert.equal(await token.ready(30000), true, JSON.stringify(token.health()))
      const first = issued(token.current().expose())
      assert.equal(await lookupSelf(first), 200)
      const health = token.health()
      assert.ok(['fresh', 'refreshing'].includes(health.state), health.state)
      assert.equal(typeof health.expiresInSeconds, 'number')
      // Listeners added after the constructor returned saw the first login.
      await until(() => events.some((e) => e.name === 'credential_obtained') && rotated.includes(1), 10, 'the first credential_obtained and rotated(1)')
      // token_ttl 6 s: renewed near 4 s; token_max_ttl 15 s: a new login then.
      await until(() => events.some((e) => e.name === 'credential_renewed'), 20, 'a renewal')
      assert.ok(events.every((e) => e.sourceKind === 'vault_token' && e.source === token.name))
      await until(() => rotated.length >= 2, 30, 'a new login (rotated) at token_max_ttl')
      const second = issued(token.current().expose())
      assert.notEqual(second, first)
      assert.equal(await lookupSelf(second), 200)
      assert.equal(token.rotationCount, rotated.at(-1))
      noSecretShown(token, token.current(), token.health(), events, first, second)
    } finally {
      await token.close()
    }
  })

  test('close() revokes when asked: the old token then gets 403 from lookup-self', async () => {
    const kept = await vaultToken()
    const revoked = await vaultToken({ revokeOnClose: true })
    const events = record(revoked)
    assert.equal(await kept.ready(30000), true)
    assert.equal(await revoked.ready(30000), true)
    const keptSecret = issued(kept.current().expose())
    const revokedSecret = issued(revoked.current().expose())
    assert.equal(await lookupSelf(revokedSecret), 200)
    await Promise.all([kept.close(), revoked.close()])
    await revoked.close()
    assert.equal(revoked.closed, true)
    assert.throws(() => revoked.current(), isCode('closed'))
    assert.equal(await lookupSelf(revokedSecret), 403)
    assert.equal(await lookupSelf(keptSecret), 200)
    await until(() => events.some((e) => e.name === 'credential_revoked'), 5, 'the credential_revoked event')
    noSecretShown(events, keptSecret, revokedSecret)
  })

  test('a KV v2 secret rotation is seen by on("rotated") and by the async iterator', async () => {
    const v1 = await putKv('node/config', { password: issued('kv-password-node-one'), user: 'app' })
    const token = await vaultToken()
    const secret = new VaultSecret(token, { mount: stack.openbao.kv_mount, path: 'node/config', interval: 1 })
    try {
      assert.equal(secret.kind, 'vault_secret')
      assert.equal(secret.name, `${stack.openbao.kv_mount}/node/config`)
      assert.equal(await secret.ready(30000), true, JSON.stringify(secret.health()))
      assert.deepEqual(secret.current().expose(), { password: 'kv-password-node-one', user: 'app' })
      assert.equal(secret.health().version, v1)
      // A listener hears every rotation (the first one's event may still be
      // on its way); the iterator gives those after its call.
      const heard = []
      secret.on('rotated', (n) => heard.push(n))
      const iterator = secret.rotations()
      const v2 = await putKv('node/config', { password: issued('kv-password-node-two'), user: 'app' })
      const next = await iterator.next()
      assert.equal(next.done, false)
      assert.ok(next.value >= 2, `rotation ${next.value}`)
      assert.equal(heard.at(-1), next.value)
      assert.equal(secret.current().expose().password, 'kv-password-node-two')
      assert.equal(secret.health().version, v2)
      noSecretShown(secret, secret.current(), secret.health(), 'kv-password-node-one', 'kv-password-node-two')
      // The iterator ends once its handle is closed.
      const pending = iterator.next()
      await secret.close()
      assert.deepEqual(await pending, { value: undefined, done: true })
      assert.throws(() => secret.current(), isCode('closed'))
    } finally {
      await secret.close()
      await token.close()
    }
  })

  test('a database lease: its credentials connect with pg and queries go on across a lease rotation', async () => {
    const db = stack.postgres
    const token = await vaultToken()
    const lease = new VaultLease(token, { path: db.lease_path, grace: '5s', revokeOnClose: true })
    const connect = async (credential) => {
      const data = credential.expose()
      const client = new pg.Client({ host: db.host, port: db.port, database: db.database, user: data.username, password: data.password })
      await client.connect()
      return client
    }
    try {
      assert.equal(lease.kind, 'vault_lease')
      assert.equal(lease.name, db.lease_path)
      assert.equal(await lease.ready(30000), true, JSON.stringify(lease.health()))
      const first = lease.current().expose()
      for (const key of ['username', 'password', 'lease_id', 'lease_duration', 'renewable']) assert.ok(key in first, key)
      issued(first.password)
      issued(first.lease_id)
      let client = await connect(lease.current())
      const users = new Set()
      let queries = 0
      let stop = false
      const querying = (async () => {
        while (!stop) {
          const r = await client.query('select current_user as u')
          users.add(r.rows[0].u)
          queries++
          await sleep(200)
        }
      })()
      // lease_max_ttl 12 s: a new credential before it ends; the pool is rebuilt with it.
      let old = null
      for await (const _ of lease.rotations()) {
        // The count also moves when the old credential expires with its
        // token before the new one is read: ready() waits for the new one.
        assert.equal(await lease.ready(30000), true, JSON.stringify(lease.health()))
        old = client
        client = await connect(lease.current())
        break
      }
      const second = lease.current().expose()
      issued(second.password)
      issued(second.lease_id)
      assert.notEqual(second.lease_id, first.lease_id)
      // The old connection closes once the queries have moved to the new one.
      await until(() => users.has(second.username), 10, 'a query as the new user')
      await old.end()
      stop = true
      await querying
      await client.end()
      assert.ok(users.has(first.username) && users.has(second.username), [...users].join(','))
      assert.ok(queries >= 2)
      noSecretShown(lease, lease.current(), lease.health(), first.password, second.password, first.lease_id, second.lease_id)
      await lease.close()
      // Revoked on close: OpenBao no longer knows the lease.
      const lookup = await stack.bao('PUT', 'sys/leases/lookup', { body: { lease_id: second.lease_id } })
      assert.equal(lookup.status, 400, await lookup.text())
    } finally {
      await lease.close()
      await token.close()
    }
  })

  test('HmacKeyring on a KV field: sign/verify across a rotation, the previous version within grace', async () => {
    await putKv('node/hmac', { key: issued('kv-hmac-node-secret-0123456789') })
    const token = await vaultToken()
    const ring = new HmacKeyring(token, { mount: stack.openbao.kv_mount, path: 'node/hmac', field: 'key', interval: 1, grace: '30s' })
    try {
      assert.equal(await ring.ready(30000), true, JSON.stringify(ring.health()))
      const first = ring.current()
      const signature = ring.sign('GET', '/orders')
      assert.equal(ring.verify(signature, 'GET', '/orders'), first)
      const rotations = ring.rotations()
      await putKv('node/hmac', { key: issued('kv-hmac-node-secret-rotated-987654') })
      await rotations.next()
      assert.notEqual(ring.current(), first)
      assert.equal(ring.verify(signature, 'GET', '/orders'), first)
      assert.equal(ring.verify(ring.sign('GET', '/orders'), 'GET', '/orders'), ring.current())
      noSecretShown(ring, ring.health(), 'kv-hmac-node-secret-0123456789', 'kv-hmac-node-secret-rotated-987654')
    } finally {
      await ring.close()
      await token.close()
    }
  })

  test('examples/outbound.mjs: queries go on across a lease rotation (pool rebuilt), a request is signed, all closes', async () => {
    await putKv('app/hmac', { key: issued('example-hmac-key-0123456789abcdef') })
    const db = stack.postgres
    const env = {
      ...process.env,
      VAULT_ADDR: stack.openbao.addr,
      JWT_FILE: writeFile(await stack.loginJwt()),
      PGHOST: db.host,
      PGPORT: String(db.port),
      PGDATABASE: db.database,
      ROTATIONS: '1',
    }
    const example = fileURLToPath(new URL('../examples/outbound.mjs', import.meta.url))
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [example], { env, timeout: 60000 })
    console.log(stdout + stderr)
    assert.match(stdout, /^lease rotation \d+: pool rebuilt$/m)
    assert.match(stdout, /^signed with key version 1$/m)
    assert.match(stdout, /closed: lease and token revoked\n$/)
    const users = new Set([...stdout.matchAll(/^queried as (.+)$/gm)].map((m) => m[1]))
    assert.ok(users.size >= 2, `queried as ${[...users].join(', ')}`)
  })
})
