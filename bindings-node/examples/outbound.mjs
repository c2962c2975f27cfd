// @ts-check
// The service's own credentials: a Vault token from a JWT file, a database
// lease whose connection pool is rebuilt on each rotation, HMAC request
// signing with a key from a KV field. Queries the database until ROTATIONS
// lease rotations were seen (default: forever), then closes everything
// (the lease and the token are revoked).
//
//   VAULT_ADDR=http://127.0.0.1:8200 JWT_FILE=/run/jwt PGHOST=127.0.0.1 PGPORT=5432 node examples/outbound.mjs
import { HmacKeyring, VaultLease, VaultToken } from 'tokenkeep'
import pg from 'pg'

const rotations = Number(process.env.ROTATIONS ?? Infinity)
const vault = new VaultToken({ role: 'app', jwtFile: process.env.JWT_FILE, revokeOnClose: true })
const db = new VaultLease(vault, { path: 'database/creds/app', grace: '5s' })
db.on('credential_attempt_failed', (event) => console.warn(`lease: ${event.message} (${event.fields.error})`))
if (!(await db.ready(30000))) throw new Error(`no database credential: ${JSON.stringify(db.health())}`)

// PGHOST, PGPORT and PGDATABASE come from the environment; the user and password from the lease.
function connect() {
  const { username, password } = db.current().expose()
  return new pg.Pool({ user: String(username), password: String(password), max: 2 })
}
let pool = connect()
const rebuilt = (async () => {
  let seen = 0
  for await (const count of db.rotations()) {
    // A rotation is also the old credential expiring with its token before
    // the new one is read: ready() waits for the new one then.
    if (!(await db.ready(30000))) continue
    const old = pool
    pool = connect()
    await old.end()
    console.log(`lease rotation ${count}: pool rebuilt`)
    if (++seen >= rotations) break
  }
})()

const ring = new HmacKeyring(vault, { mount: 'secret', path: 'app/hmac', field: 'key', grace: '2m' })
if (await ring.ready(30000)) {
  const body = JSON.stringify({ order: 42 })
  const signature = ring.sign('POST', '/orders', body) // the header value to send
  console.log(`signed with key version ${ring.verify(signature, 'POST', '/orders', body)}`)
}

async function query() {
  const { rows } = await pool.query('select current_user as who')
  console.log(`queried as ${rows[0].who}`)
}
let finished = false
rebuilt.then(() => (finished = true))
while (!finished) {
  await query()
  await new Promise((resolve) => setTimeout(resolve, 500))
}
await query() // with the last credential
await pool.end()
await Promise.all([ring.close(), db.close()])
await vault.close()
console.log('closed: lease and token revoked')
