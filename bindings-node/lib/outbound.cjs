'use strict'
// The outbound handles (VaultToken, VaultSecret, VaultLease, FileToken,
// HmacKeyring) and Secret: the native handles wrapped as Node objects
// (EventEmitter events, Promises, an async iterator of rotations,
// TokenkeepError). Options go to the runtime's specs as JSON text; every
// rule (refresh, retries, health, grace windows, revocation) is the runtime's.

const { EventEmitter } = require('node:events')
const { inspect } = require('node:util')
const native = require('./native.cjs')
const { TokenkeepError } = require('./errors.cjs')
const { fromNative, specJson, settled } = require('./convert.cjs')

const REDACTED = '[redacted]'

/**
 * A secret value (a Vault token, a JWT, KV or lease data): `toString()`,
 * `JSON.stringify` and `util.inspect` show `[redacted]`; `expose()` gives
 * the value, for where it goes on the wire.
 */
class Secret {
  #value

  constructor(value) {
    this.#value = value
    Object.freeze(this)
  }

  /** The value itself. */
  expose() {
    return this.#value
  }

  toString() {
    return REDACTED
  }

  toJSON() {
    return REDACTED
  }

  [Symbol.toPrimitive]() {
    return REDACTED
  }

  get [Symbol.toStringTag]() {
    return 'Secret'
  }

  [inspect.custom]() {
    return `Secret ${REDACTED}`
  }
}

const asToken = (value) => new Secret(value)
const asData = (text) => new Secret(JSON.parse(text))
const asVersion = (value) => value

function timeoutArg(timeoutMs) {
  if (typeof timeoutMs !== 'number') throw new TokenkeepError('invalid_type', 'timeoutMs: must be a number')
  return timeoutMs
}

function bytesArg(name, body) {
  if (body === undefined || body === null) return Buffer.alloc(0)
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (Buffer.isBuffer(body)) return body
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  throw new TokenkeepError('invalid_type', `${name}: must be a string, a Buffer or a Uint8Array`)
}

function stringArg(name, value) {
  if (typeof value !== 'string') throw new TokenkeepError('invalid_type', `${name}: must be a string`)
  return value
}

/** The native half of a handle (module-private). */
let nativeOf

function call(f) {
  try {
    return f()
  } catch (e) {
    throw fromNative(e)
  }
}

/**
 * What every outbound handle has. Events: every `credential_*` event the
 * runtime emits for it (with the runtime's event data, as the Verifier's),
 * and `rotated` with the rotation count after each new value (the first
 * included). Listeners added right after the constructor returns see the
 * first events: they are delivered on a later tick.
 */
class Credential extends EventEmitter {
  #native
  #convert
  #endings = new Set()

  /** @internal `start(onEvent)` makes the native handle. */
  constructor(start, convert) {
    super()
    // The native side holds the callback; a weak reference back lets an
    // unreachable handle be collected (its native half then stops).
    const self = new WeakRef(this)
    const onEvent = (message) => {
      const handle = self.deref()
      if (handle !== undefined) handle.#deliver(message)
    }
    this.#native = call(() => start(onEvent))
    this.#convert = convert
  }

  static {
    nativeOf = (handle) => handle.#native
  }

  #deliver(message) {
    if (message.charCodeAt(0) === 123 /* { */) {
      const event = JSON.parse(message)
      this.emit(event.name, event)
    } else {
      this.emit('rotated', Number(message))
    }
  }

  /** The value to use now; throws TokenkeepError (`not_yet_obtained`, `expired`, `fatal`, `closed`), never a stale value. */
  current() {
    const r = call(() => this.#native.current())
    if (r !== null && typeof r === 'object') throw new TokenkeepError(r.code, r.message)
    return this.#convert(r)
  }

  /** A health snapshot (state, ages, next refresh, failures, last error code). */
  health() {
    return call(() => this.#native.health())
  }

  /** Resolves true once a value is available, false after `timeoutMs` (default 5000). */
  async ready(timeoutMs = 5000) {
    timeoutArg(timeoutMs)
    try {
      return await settled(this.#native.ready(timeoutMs))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Asks for a refresh now (rate-limited by the runtime); false once closed. */
  refresh() {
    return call(() => this.#native.refresh())
  }

  /** The upstream answered 401/403 to the current value: the runtime refreshes it (rate-limited). */
  reportUnauthorized() {
    call(() => this.#native.reportUnauthorized())
  }

  /** New values so far (the first included). */
  get rotationCount() {
    return call(() => this.#native.rotations())
  }

  /** Its name in logs, metrics and health. */
  get name() {
    return call(() => this.#native.name())
  }

  /** `vault_token`, `vault_secret`, `vault_lease`, `file_token` or `hmac_keyring`. */
  get kind() {
    return this.#native.kind()
  }

  /** Whether close() was called. */
  get closed() {
    return this.#native.isClosed()
  }

  /**
   * `for await (const count of handle.rotations())`: the rotation count
   * after each new value from now on; ends when the handle closes. While a
   * `next()` is pending it keeps the process alive (the caller is waiting on
   * it, as on a socket); an idle iterator and the handle never do.
   */
  rotations() {
    const queue = []
    let waiting = null
    let keepAlive = null
    let done = false
    const settle = (result) => {
      const resolve = waiting
      waiting = null
      clearInterval(keepAlive)
      keepAlive = null
      resolve(result)
    }
    const finish = () => {
      done = true
      this.off('rotated', onRotated)
      this.#endings.delete(finish)
      if (waiting !== null) settle({ value: undefined, done: true })
    }
    // Rotations reach JS on a later tick: one counted before this call may
    // still be on its way, and is not "from now on".
    const start = this.rotationCount
    const onRotated = (count) => {
      if (count <= start) return
      if (waiting !== null) settle({ value: count, done: false })
      else queue.push(count)
    }
    if (this.closed) {
      done = true
    } else {
      this.on('rotated', onRotated)
      this.#endings.add(finish)
    }
    return {
      next() {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift(), done: false })
        if (done) return Promise.resolve({ value: undefined, done: true })
        if (waiting !== null) return Promise.reject(new TypeError('rotations(): next() called again before the previous one settled'))
        return new Promise((resolve) => {
          waiting = resolve
          keepAlive = setInterval(() => {}, 1 << 30)
        })
      },
      return() {
        queue.length = 0
        finish()
        return Promise.resolve({ value: undefined, done: true })
      },
      [Symbol.asyncIterator]() {
        return this
      },
    }
  }

  /** Stops it, revoking what its options say to revoke, and waits for that; idempotent. */
  async close() {
    try {
      await settled(this.#native.close())
    } catch (e) {
      throw fromNative(e)
    } finally {
      for (const end of [...this.#endings]) end()
    }
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }

  toJSON() {
    return { kind: this.kind, name: this.name, state: this.health().state, closed: this.closed }
  }

  [inspect.custom](depth, options) {
    return `${this.constructor.name} ${inspect(this.toJSON(), options)}`
  }
}

function tokenArg(token) {
  if (!(token instanceof VaultToken)) throw new TokenkeepError('invalid_type', 'token: must be a VaultToken')
  return nativeOf(token)
}

/**
 * A Vault/OpenBao token obtained by JWT login (`role`, `addr`, `authMount`,
 * `jwtFile`, `revokeOnClose`, …), renewed and replaced in the background.
 * `current()` gives a Secret with the token.
 */
class VaultToken extends Credential {
  constructor(options) {
    const json = specJson(options)
    super((onEvent) => native.NativeCredential.vaultToken(json, onEvent), asToken)
  }
}

/**
 * A KV v2 secret (`mount`, `path`, `interval`, `grace`) read with a
 * VaultToken and polled; a new version is a rotation. `current()` gives a
 * Secret with the secret's data object.
 */
class VaultSecret extends Credential {
  constructor(token, options) {
    const t = tokenArg(token)
    const json = specJson(options)
    super((onEvent) => native.NativeCredential.vaultSecret(t, json, onEvent), asData)
  }
}

/**
 * A dynamic credential (`path`: `database/creds/<role>`, `grace`,
 * `revokeOnClose`) read with a VaultToken: renewed, replaced before its max
 * TTL, revoked after the grace window. `current()` gives a Secret with the
 * lease data (`username`, `password`, …, `lease_id`, `lease_duration`, `renewable`).
 */
class VaultLease extends Credential {
  constructor(token, options) {
    const t = tokenArg(token)
    const json = specJson(options)
    super((onEvent) => native.NativeCredential.vaultLease(t, json, onEvent), asData)
  }
}

/**
 * A rotating token file (`path`, `changePoll`): a Kubernetes projected
 * service-account token, a JWT-SVID. `current()` gives a Secret with the token.
 */
class FileToken extends Credential {
  constructor(options) {
    const json = specJson(options)
    super((onEvent) => native.NativeCredential.fileToken(json, onEvent), asToken)
  }
}

/**
 * HMAC request signing with a rotating secret: `new HmacKeyring({ file, … })`,
 * or `new HmacKeyring(vaultToken, { mount, path, field, … })` for a KV
 * field. The previous secret still verifies for the grace window.
 * `current()` gives the current key version (the secrets never leave it).
 */
class HmacKeyring extends Credential {
  constructor(tokenOrOptions, options) {
    const withToken = tokenOrOptions instanceof Credential
    const t = withToken ? tokenArg(tokenOrOptions) : null
    const json = specJson(withToken ? options : tokenOrOptions)
    super((onEvent) => native.NativeCredential.hmacKeyring(t, json, onEvent), asVersion)
  }

  /** Signs a request now with the current secret: the signature header's value. Throws TokenkeepError (`no_key`, …). */
  sign(method, path, body) {
    const m = stringArg('method', method)
    const p = stringArg('path', path)
    const b = bytesArg('body', body)
    return call(() => nativeOf(this).sign(m, p, b))
  }

  /** Verifies a signature header for this request now: the key version that matched. Throws TokenkeepError (`bad_signature`, …). */
  verify(signature, method, path, body) {
    const s = stringArg('signature', signature)
    const m = stringArg('method', method)
    const p = stringArg('path', path)
    const b = bytesArg('body', body)
    return call(() => nativeOf(this).verify(s, m, p, b))
  }
}

module.exports = { Secret, Credential, VaultToken, VaultSecret, VaultLease, FileToken, HmacKeyring }
