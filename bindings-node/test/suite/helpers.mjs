// Shared helpers of the Node suite: the shared vectors (the one copy in
// tests/vectors), the project's dev issuer (the `tokenkeep` binary), and the
// record of every secret the suite issues (checked against all its output).
import { spawn } from 'node:child_process'
import { appendFileSync, readFileSync, readdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The make target says where the checkout is (the scratch project may sit
// under a symlinked target directory); else three levels up.
export const repoRoot = process.env.TOKENKEEP_REPO_ROOT || join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const vectorsDir = join(repoRoot, 'tests', 'vectors')

/** Every token vector file (those with `vectors`): `{file, vectors}`. */
export function vectorFiles() {
  return readdirSync(vectorsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, vectors: JSON.parse(readFileSync(join(vectorsDir, file), 'utf8')).vectors }))
    .filter((f) => Array.isArray(f.vectors))
}

/** The shared bad-options cases: `{name, options, path, code}`. */
export const badOptions = JSON.parse(readFileSync(join(vectorsDir, 'bad_options.json'), 'utf8')).cases

export const codesJson = JSON.parse(readFileSync(join(vectorsDir, 'codes.json'), 'utf8'))

/** Remembers a secret the suite issued; the make target searches all suite output for each. */
export function issued(secret) {
  const file = process.env.TOKENKEEP_SECRETS_FILE
  if (file && typeof secret === 'string' && secret.length > 0) appendFileSync(file, secret + '\n')
  return secret
}

export const tokenkeepBin = process.env.TOKENKEEP_BIN || join(repoRoot, 'target', 'debug', 'tokenkeep')

/**
 * Starts `tokenkeep dev-issuer` on 127.0.0.1 and reads its announcement.
 * `token(claims, {alg, ttl})` mints (and records) a token.
 */
export async function startDevIssuer(args = []) {
  const child = spawn(tokenkeepBin, ['dev-issuer', '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`dev-issuer exited with ${code}`)))
    lines.once('line', resolve)
  })
  const info = JSON.parse(first)
  const post = async (path, body) => {
    const r = await fetch(info.issuer + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) })
    if (!r.ok) throw new Error(`dev-issuer ${path}: ${r.status}`)
    return r.json()
  }
  return {
    issuer: info.issuer,
    jwksUri: info.jwks_uri,
    async token(claims, { alg = 'ES256', ttl = 600 } = {}) {
      const out = await post('/token', { claims: { iss: info.issuer, ...claims }, alg, ttl })
      return issued(out.token)
    },
    rotate: () => post('/rotate'),
    outage: (seconds, mode = '503') => post('/outage', { seconds, mode }),
    stats: async () => (await fetch(info.issuer + '/stats')).json(),
    stop() {
      child.kill('SIGTERM')
      return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))
    },
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Starts `tokenkeep dev-stack` (the project's one launcher: a dev issuer, a
 * real OpenBao whose JWT auth trusts it and, with `--postgres`, a real
 * PostgreSQL behind OpenBao's database engine) and reads its JSON line. It
 * stops when this process closes its stdin (`stop()`, or this process ending).
 */
export async function startDevStack(args = []) {
  const child = spawn(tokenkeepBin, ['--json', 'dev-stack', '--stop-on-stdin-eof', ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout })
  const output = []
  lines.on('line', (line) => output.push(line))
  const first = await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`dev-stack exited with ${code}: ${output.join(' ').slice(0, 600)}`)))
    lines.once('line', resolve)
  })
  child.removeAllListeners('exit')
  let info
  try {
    info = JSON.parse(first)
  } catch {
    // A failure is described as pretty-printed JSON: show all of it.
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))
    throw new Error(`dev-stack did not start: ${output.join(' ').slice(0, 600)}`)
  }
  if (!info.openbao) throw new Error(`dev-stack did not start: ${first.slice(0, 300)}`)
  const { issuer, openbao, postgres } = info
  issued(openbao.root_token)
  if (postgres) issued(postgres.admin_password)
  return {
    issuer,
    openbao,
    postgres,
    /** A JWT the OpenBao role accepts (recorded as issued). */
    async loginJwt(ttl = 600) {
      const claims = { iss: issuer.url, sub: openbao.jwt_subject, aud: openbao.jwt_audience }
      const r = await fetch(issuer.token_url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ claims, ttl }) })
      if (!r.ok) throw new Error(`dev issuer /token: ${r.status}`)
      return issued((await r.json()).token)
    },
    /** A request to OpenBao's HTTP API (the root token unless given). */
    bao(method, path, { token, body } = {}) {
      return fetch(`${openbao.addr}/v1/${path}`, {
        method,
        headers: { 'x-vault-token': token ?? openbao.root_token, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      })
    },
    stop() {
      if (child.exitCode !== null) return Promise.resolve()
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin.end()
      return exited
    },
  }
}
