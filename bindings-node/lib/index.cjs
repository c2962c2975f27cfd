'use strict'
// The Node entry point: the native addon's verifier wrapped as a Node
// object (EventEmitter events, Promises, TokenkeepError). Conversions only:
// options go to the runtime as JSON text, every rule and code is the runtime's.

const { EventEmitter } = require('node:events')
const { inspect } = require('node:util')
const native = require('./native.cjs')
const { TokenkeepError, isTokenkeepError, isErrorCode } = require('./errors.cjs')
const codes = require('./codes.cjs')

const { HTTP_STATUS, rejected, fromNative, specJson, settled } = require('./convert.cjs')
const { authorizationArg, authOptions, bearerAnswer } = require('./bearer.cjs')
const outbound = require('./outbound.cjs')

const EVENT_NAMES = new Set(codes.EVENT_NAMES)

function tokenArg(token) {
  if (typeof token !== 'string') throw new TokenkeepError('invalid_type', 'token: must be a string')
  return token
}

function nowArg(options) {
  if (options === undefined || options === null) return undefined
  if (typeof options !== 'object') throw new TokenkeepError('invalid_type', 'options: must be an object')
  const now = options.now
  if (now === undefined || now === null) return undefined
  if (typeof now !== 'number') throw new TokenkeepError('invalid_type', 'now: must be Unix seconds (a number)')
  return now
}

/**
 * Verifies JWTs against keys found by OIDC discovery, a JWKS URL or given
 * inline, with a self-refreshing key cache running on tokenkeep's own
 * threads (it never keeps the process alive). Events (`jwks_refreshed`,
 * `jwks_refresh_failed`, `jwt_validation_failed`, …) are emitted with the
 * runtime's event data.
 */
class Verifier extends EventEmitter {
  #native
  #subscription = null

  /** Options: the shared options spec in camelCase (`issuer`, `audience`, `jwksUrl`, `jwks`, `cache`, `http`, …). */
  constructor(options) {
    super()
    const json = specJson(options)
    try {
      this.#native = new native.NativeVerifier(json)
    } catch (e) {
      throw fromNative(e)
    }
    super.on('newListener', (name) => {
      if (EVENT_NAMES.has(name)) this.#subscribe()
    })
    super.on('removeListener', (name) => {
      if (EVENT_NAMES.has(name)) this.#unsubscribeWhenUnused()
    })
  }

  /** A verifier for static keys (a JWKS object or its JSON text). */
  static fromJwks(jwks, options) {
    return new Verifier({ ...(options || {}), jwks })
  }

  /** Verifies `token` with the keys at hand and never touches the network; the claims, or throws a TokenkeepError. */
  verifySync(token, options) {
    const now = nowArg(options)
    let r
    try {
      r = this.#native.verifySync(tokenArg(token), now)
    } catch (e) {
      throw fromNative(e)
    }
    if (typeof r === 'string') return JSON.parse(r)
    throw rejected(r)
  }

  /** Verifies `token`, waiting only for one key refetch when it names an unknown kid; resolves to the claims. */
  async verify(token, options) {
    const now = nowArg(options)
    let r
    try {
      r = this.#native.verify(tokenArg(token), now)
    } catch (e) {
      throw fromNative(e)
    }
    r = await settled(r)
    if (typeof r === 'string') return JSON.parse(r)
    throw rejected(r)
  }

  /**
   * HTTP bearer authentication in one call: verifies the token of
   * `authorization` (the `Authorization` header value; undefined when the
   * request has none) and checks that it grants every scope in
   * `options.scopes`. Resolves to `{ ok: true, claims, scopes }` (the granted
   * scopes, from `scope` then `scp`), or to the runtime's answer to send:
   * `{ ok: false, status, headers, body: { error } }` (401 with its
   * `WWW-Authenticate`, 403 `insufficient_scope`, 503 with `Retry-After`);
   * `options.realm` is named in every challenge.
   */
  async authenticate(authorization, options) {
    const { scopes, realm } = authOptions(options)
    let r
    try {
      r = this.#native.authenticate(authorizationArg(authorization), scopes, realm)
    } catch (e) {
      throw fromNative(e)
    }
    r = await settled(r)
    return bearerAnswer(r, r.status === undefined ? JSON.parse(r.claims) : undefined)
  }

  /** Resolves true once every issuer has usable keys, false after `timeoutMs`. */
  async ready(timeoutMs = 5000) {
    if (typeof timeoutMs !== 'number') throw new TokenkeepError('invalid_type', 'timeoutMs: must be a number')
    try {
      return await settled(this.#native.ready(timeoutMs))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Health of every issuer's keys. */
  health() {
    try {
      return this.#native.health()
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Asks every fetched issuer for its keys now (the miss cooldown still applies); whether a fetch runs for all. */
  refresh() {
    try {
      return this.#native.refresh()
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** The issuers, in configuration order. */
  get issuers() {
    return this.#native.issuers()
  }

  /** How many times an issuer's key set changed. */
  get rotations() {
    return this.#native.rotations()
  }

  /** Whether close() was called. */
  get closed() {
    return this.#native.isClosed()
  }

  /** Stops the background refresh (idempotent); verification keeps working with the keys at hand. */
  async close() {
    this.#subscription = null
    try {
      await settled(this.#native.close())
    } catch (e) {
      throw fromNative(e)
    }
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }

  #subscribe() {
    if (this.#subscription !== null || this.closed) return
    // The native side holds the callback; a weak reference back lets an
    // unreachable verifier be collected even while it has listeners.
    const self = new WeakRef(this)
    this.#subscription = this.#native.subscribe((json) => {
      const verifier = self.deref()
      if (verifier !== undefined) verifier.#deliver(json)
    })
  }

  #deliver(json) {
    const event = JSON.parse(json)
    this.emit(event.name, event)
  }

  #unsubscribeWhenUnused() {
    if (this.#subscription === null) return
    for (const name of this.eventNames()) {
      if (EVENT_NAMES.has(name) && this.listenerCount(name) > 0) return
    }
    this.#native.unsubscribe(this.#subscription)
    this.#subscription = null
  }

  toJSON() {
    return { issuers: this.issuers, closed: this.closed }
  }

  [inspect.custom](depth, options) {
    return `Verifier ${inspect(this.toJSON(), options)}`
  }
}

/** Every metric family of this process's tokenkeep handles, now (what the prom-client collector exports). */
function metricsSnapshot() {
  return native.metricsSnapshot()
}

/** The same in the Prometheus text format. */
function metricsText() {
  return native.metricsText()
}

/** Test only: panics inside the addon (surfaces as TokenkeepError `internal_error`). */
function _debugPanic() {
  try {
    native._debugPanic()
  } catch (e) {
    throw fromNative(e)
  }
}

/** Test only: panics inside a future on tokenkeep's runtime. */
async function _debugPanicAsync() {
  try {
    await settled(native._debugPanicAsync())
  } catch (e) {
    throw fromNative(e)
  }
}

module.exports = {
  Verifier,
  VaultToken: outbound.VaultToken,
  VaultSecret: outbound.VaultSecret,
  VaultLease: outbound.VaultLease,
  FileToken: outbound.FileToken,
  HmacKeyring: outbound.HmacKeyring,
  Secret: outbound.Secret,
  TokenkeepError,
  isTokenkeepError,
  isErrorCode,
  metricsSnapshot,
  metricsText,
  CONCERNS: codes.CONCERNS,
  ERROR_CODES: codes.ERROR_CODES,
  EVENT_NAMES: codes.EVENT_NAMES,
  REJECTION_CODES: codes.REJECTION_CODES,
  _debugPanic,
  _debugPanicAsync,
}
