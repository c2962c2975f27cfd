// tokenkeep on edge runtimes: the JS side of the wasm build.
//
// The core (wasm) decides; this file only does what the core cannot: fetch
// (the runtime's own), signature checks with WebCrypto, the Cache API, the
// clock (Date.now()) and waitUntil. No timer outlives a call: an isolate keeps
// nothing running between requests, so every verify() first lets the core
// start what is due, and a due refresh runs in the caller's waitUntil.
//
// No Promise is awaited by a request other than the one that created it
// (workerd cancels or hangs those, jose#509): a request that must wait for
// keys another request is fetching polls the core's generation on its own
// timers; imported CryptoKeys and Cache objects are shared, never promises.

import { TokenkeepError, isTokenkeepError } from "../lib/errors.cjs";
import { authorizationArg, authOptions, bearerAnswer } from "../lib/bearer.cjs";

export { TokenkeepError, isTokenkeepError };

// `step` / `complete` answer a cached claims object, the verified claims as
// JSON text, one of these, or the id (>= 0) of a signature to check.
const REJECTED = -2;
const WAIT = -3;
// `complete`'s outcome when no check of the algorithm is possible here.
const CANNOT_CHECK = -2;

const CACHE_PREFIX = "https://tokenkeep.invalid/jwks/v1?source=";
// Response headers the core reads.
const KEPT_HEADERS = ["cache-control", "etag", "retry-after"];

const CRYPTO_KEYS_MAX = 512;

// A little-endian u32 of `pendingCheck`'s header.
function word(bytes, at) {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function webCryptoParams(alg) {
  switch (alg) {
    case "RS256":
    case "RS384":
    case "RS512": {
      const hash = `SHA-${alg.slice(2)}`;
      return [{ name: "RSASSA-PKCS1-v1_5", hash }, { name: "RSASSA-PKCS1-v1_5" }];
    }
    case "PS256":
    case "PS384":
    case "PS512": {
      const bits = Number(alg.slice(2));
      return [{ name: "RSA-PSS", hash: `SHA-${bits}` }, { name: "RSA-PSS", saltLength: bits / 8 }];
    }
    case "ES256":
      return [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }];
    case "ES384":
      return [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }];
    case "EdDSA":
    case "Ed25519":
      return [{ name: "Ed25519" }, { name: "Ed25519" }];
    default:
      return null;
  }
}

// Only the key material: `alg` and `kid` are the core's business, and some
// WebCrypto implementations refuse JWK `alg` values they do not know (Ed25519).
function keyMaterial(jwk) {
  const { kty, n, e, crv, x, y } = jwk;
  return kty === "RSA" ? { kty, n, e } : kty === "EC" ? { kty, crv, x, y } : { kty, crv, x };
}

async function importKey(jwkText, importParams) {
  const jwk = keyMaterial(JSON.parse(jwkText));
  return crypto.subtle.importKey("jwk", jwk, importParams, false, ["verify"]);
}

// Claims are shared (a verified-token cache hit returns the same object), so
// nothing in them can change: every object and array is frozen.
function deepFreeze(object) {
  for (const v of Object.values(object)) {
    if (typeof v === "object" && v !== null) deepFreeze(v);
  }
  return Object.freeze(object);
}

function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(4));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function specError(raw) {
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  const error = new TokenkeepError(parsed.code, parsed.message);
  error.path = parsed.path;
  return error;
}

function internalError(cause) {
  return new TokenkeepError("internal_error", "tokenkeep failed internally (a bug): the verifier was reset", { cause });
}

// A trap inside the module (a Rust panic is one) leaves the instance's object
// unusable: such errors become `internal_error` and the core is rebuilt.
function isTrap(error) {
  return error instanceof WebAssembly.RuntimeError || (error instanceof Error && /recursive use of an object/.test(error.message));
}

function transportCode(error) {
  if (error && (error.name === "AbortError" || error.name === "TimeoutError")) return "timeout";
  if (error && error.code === "body_too_large") return "body_too_large";
  if (error instanceof TypeError) return "connect";
  return "transport";
}

async function readLimited(response, limit) {
  const length = Number(response.headers.get("content-length"));
  if (Number.isFinite(length) && length > limit) {
    await response.body?.cancel();
    throw Object.assign(new Error("body too large"), { code: "body_too_large" });
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw Object.assign(new Error("body too large"), { code: "body_too_large" });
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function tokenTime(now, keysNow) {
  if (now === undefined || now === null) return keysNow;
  if (now instanceof Date) return now.getTime();
  if (typeof now === "number" && Number.isFinite(now)) return now * 1000;
  throw new TokenkeepError("invalid_type", "now: expected Unix seconds (a number) or a Date");
}

function runInBackground(promise, waitUntil) {
  const quiet = promise.catch(() => {});
  if (typeof waitUntil === "function") waitUntil(quiet);
  else if (waitUntil && typeof waitUntil.waitUntil === "function") waitUntil.waitUntil(quiet);
}

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/**
 * The edge API over one initialized wasm-bindgen build (`Core`): each entry
 * file calls it once for its module, so each build keeps its own key handles
 * and imported keys. Built without in-module signature checks (`tokenkeep` on
 * workerd and edge-light), `Core` has no `checkNatively`: `signatures: "wasm"`
 * is then refused, and where a public-key signature must be checked without
 * WebCrypto (`verifySync`, an algorithm this runtime's WebCrypto lacks) the
 * token is refused with `unsupported_alg`.
 */
export function edgeApi(Core) {
  const inModuleChecks = typeof Core.prototype.checkNatively === "function";
  // Imported keys, shared by every verifier of this build: key id × 16 + alg
  // number -> CryptoKey. The module numbers key handles (RFC 7638
  // thumbprints) for the whole isolate, so a refetched key keeps its entry.
  const cryptoKeys = new Map();
  // Algorithms this runtime's WebCrypto turned out to lack.
  const webCryptoLacks = new Set();

  // Per algorithm number of `pendingCheck`: its name and WebCrypto parameters,
  // read from the module on first use.
  let algorithms;
  function algorithm(number) {
    algorithms ??= Core.algNames()
      .split(" ")
      .map((name) => ({ name, params: webCryptoParams(name) }));
    return algorithms[number];
  }

  /** The algorithms this runtime's WebCrypto lacked so far (checked inside the module instead, where it can). */
  function webCryptoFallbacks() {
    return [...webCryptoLacks].sort();
  }

  /**
   * Verifies JWTs on edge runtimes with the same options, names and codes as
   * the Node build. `host` holds what only an edge host has: `fetch` (default:
   * the global one), `keyCache` (`false` turns the persistent key cache off; a
   * `Cache` to use; default `caches.default` where it exists, else
   * `caches.open("tokenkeep")`), `signatures` (`"webcrypto"`, the default, or
   * `"wasm"` to check every signature inside the module: only in the build
   * with in-module checks, `tokenkeep/full`).
   */
  class Verifier {
    #specJson;
    #host;
    #core;
    #fetch;
    #nextDue = 0;
    #closed = false;
    #listeners = new Map();
    // Per issuer: whether the persistent key cache was read in this isolate.
    #persistRead = [];
    #persistPending = true;
    #persistWritten = [];
    #cache = undefined;
    // Whether the core keeps verified tokens (then each new claims object is handed back to it).
    #remembers = false;

    constructor(options, host = {}) {
      let specJson;
      try {
        specJson = JSON.stringify(options ?? {});
      } catch {
        throw new TokenkeepError("invalid_type", "options must be a plain object (JSON-serializable)");
      }
      this.#specJson = specJson;
      this.#host = host ?? {};
      this.#fetch = this.#host.fetch ?? ((...args) => fetch(...args));
      if (this.#host.signatures !== undefined && !["webcrypto", "wasm"].includes(this.#host.signatures)) {
        throw new TokenkeepError("invalid_value", 'signatures: expected "webcrypto" or "wasm"');
      }
      if (this.#host.signatures === "wasm" && !inModuleChecks) {
        throw new TokenkeepError(
          "invalid_value",
          'signatures: "wasm" needs the build with in-module signature checks (import from "tokenkeep/full")',
        );
      }
      this.#core = this.#build();
    }

    /** A verifier over keys given once (a JWKS object or its JSON text). */
    static fromJwks(jwks, options = {}, host = {}) {
      return new Verifier({ ...options, jwks }, host);
    }

    #build() {
      let core;
      try {
        core = new Core(this.#specJson, randomSeed(), Date.now());
      } catch (raw) {
        throw (typeof raw === "string" && specError(raw)) || internalError(raw);
      }
      if (this.#host.signatures === "wasm") {
        for (const alg of ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"]) {
          core.checkNatively(alg);
        }
      }
      if (inModuleChecks) for (const alg of webCryptoLacks) core.checkNatively(alg);
      this.#nextDue = 0;
      this.#remembers = core.remembers();
      this.#persistRead = new Array(core.issuerCount()).fill(false);
      this.#persistPending = true;
      this.#persistWritten = new Array(core.issuerCount()).fill(0);
      return core;
    }

    #reset(error) {
      try {
        this.#core.free();
      } catch {
        // The object is unusable after a trap; dropping it is all that is left.
      }
      this.#core = this.#build();
      return internalError(error);
    }

    /**
     * Verifies `token`; resolves to its claims (a frozen object, the same one
     * for a verified-token cache hit). `now` (Unix seconds or a Date) moves only
     * the token's time checks; `waitUntil` (a function, or an object with a
     * `waitUntil` method such as workerd's `ctx`) carries a due key refresh
     * past the response. Waits only when no usable key exists or the token
     * names a key the cache does not have (within the cooldown).
     */
    async verify(token, options = {}) {
      return this.#run(token, options, undefined);
    }

    /**
     * HTTP bearer authentication in one call, as the Node build's: verifies
     * the token of `authorization` (the `Authorization` header value;
     * undefined when the request has none) and checks that it grants every
     * scope in `options.scopes`. Resolves to `{ ok: true, claims, scopes }`,
     * or to the answer to send: `{ ok: false, status, headers, body: { error }
     * }` (401 with its `WWW-Authenticate`, 403 `insufficient_scope`, 503 with
     * `Retry-After`); `options.realm` is named in every challenge. `now` and
     * `waitUntil` as for `verify`. The module decides all of it (the header's
     * token, the granted scopes, the answer); this only sequences the calls.
     */
    async authenticate(authorization, options = {}) {
      const admission = authOptions(options);
      const token = Core.bearerToken(authorizationArg(authorization) ?? "") ?? "";
      return this.#run(token, options ?? {}, admission);
    }

    // Verifies `token`: the claims, or throws the rejection. With `admission`
    // (`{ scopes, realm }`, from `authenticate`) the module's answer follows
    // each outcome at once, before another request can move the core on.
    async #run(token, options, admission) {
      const keysNow = Date.now();
      const tokenNow = tokenTime(options.now, keysNow);
      try {
        const core = this.#core;
        // What this call started (a first fetch, a refresh): its own promise,
        // which only this call may await.
        let due;
        if (!this.#closed) {
          if (this.#persistPending) await this.#readPersisted(keysNow);
          if (keysNow >= this.#nextDue) {
            due = this.#runDue(keysNow, options.waitUntil);
            runInBackground(due, options.waitUntil);
          }
        }
        const waitUntil = options.waitUntil;
        let mayFetch = !this.#closed;
        let answer = core.step(typeof token === "string" ? token : "", keysNow, tokenNow, mayFetch);
        // One async frame for the whole verification: the usual path awaits
        // only WebCrypto.
        for (;;) {
          if (admission !== undefined && (typeof answer !== "number" || answer === REJECTED)) {
            const admitted = JSON.parse(core.admit(admission.scopes, admission.realm) ?? "null");
            if (admitted === null) throw internalError(new Error("no answer to admit"));
            if (answer === REJECTED) this.#rejection(token);
            const claims = typeof answer === "string" ? this.#verified(answer) : typeof answer === "object" ? answer : undefined;
            return bearerAnswer(admitted, claims);
          }
          if (typeof answer === "string") return this.#verified(answer);
          if (typeof answer === "object") return answer;
          if (answer === REJECTED) throw this.#rejection(token);
          if (answer === WAIT) {
            await this.#waitForKeys(core.waitIssuer(), core.waitGeneration(), waitUntil, due);
            due = undefined;
            mayFetch = false;
            answer = core.step(token, Date.now(), tokenNow, false);
            continue;
          }
          const id = answer;
          let matched;
          try {
            // One crossing for all the check needs; input and signature are views
            // of that one copy (WebCrypto copies what it is given when called).
            const check = core.pendingCheck(id);
            const alg = algorithm(word(check, 0));
            const candidates = word(check, 4);
            const inputAt = 12 + 4 * candidates;
            const input = check.subarray(inputAt, inputAt + word(check, inputAt - 4));
            const signature = check.subarray(inputAt + input.length);
            const key = candidates === 1 ? cryptoKeys.get(word(check, 8) * 16 + word(check, 0)) : undefined;
            if (key !== undefined) {
              // The usual case (one candidate, already imported): one await.
              let ok = false;
              try {
                ok = await crypto.subtle.verify(alg.params[1], key, signature, input);
              } catch {
                ok = false;
              }
              matched = ok ? 0 : -1;
            } else {
              matched = await this.#checkSignature(id, check, alg, candidates, input, signature);
            }
          } catch (error) {
            core.abandon(id);
            throw error;
          }
          if (matched === null && inModuleChecks) {
            // This runtime's WebCrypto lacks the algorithm: the module checks it from now on.
            answer = core.step(token, Date.now(), tokenNow, mayFetch);
            continue;
          }
          if (matched === null) matched = CANNOT_CHECK;
          answer = core.complete(id, matched, Date.now(), mayFetch);
        }
      } catch (error) {
        if (isTokenkeepError(error)) throw error;
        throw isTrap(error) ? this.#reset(error) : error;
      }
    }

    /**
     * Verifies with the keys at hand, synchronously: never fetches, and checks
     * signatures inside the module (WebCrypto has no synchronous API). In the
     * build without in-module checks only HMAC tokens, cache hits and
     * refusals decided before a public-key check are answered; a token that
     * needs one is refused with `unsupported_alg`.
     */
    verifySync(token, options = {}) {
      const keysNow = Date.now();
      const tokenNow = tokenTime(options.now, keysNow);
      try {
        const core = this.#core;
        let answer = core.step(typeof token === "string" ? token : "", keysNow, tokenNow, false);
        if (typeof answer === "number" && answer >= 0) {
          answer = inModuleChecks ? core.completeNatively(answer, keysNow) : core.complete(answer, CANNOT_CHECK, keysNow, false);
        }
        if (typeof answer === "string") return this.#verified(answer);
        if (typeof answer === "object") return answer;
        throw this.#rejection(token);
      } catch (error) {
        if (isTokenkeepError(error)) throw error;
        throw isTrap(error) ? this.#reset(error) : error;
      }
    }

    // The index of the candidate whose signature verified, -1 for none, or null
    // when WebCrypto cannot check this algorithm here. Imports keys not seen yet.
    async #checkSignature(id, check, alg, candidates, input, signature) {
      const core = this.#core;
      const algNumber = word(check, 0);
      for (let i = 0; i < candidates; i++) {
        const name = word(check, 8 + 4 * i) * 16 + algNumber;
        let key = cryptoKeys.get(name);
        if (key === undefined) {
          try {
            if (!alg?.params) throw new Error("no WebCrypto parameters");
            key = await importKey(core.pendingJwk(id, i), alg.params[0]);
          } catch (error) {
            if (isTrap(error)) throw error;
            // The core validated the key material already: the algorithm is what
            // this WebCrypto lacks.
            webCryptoLacks.add(alg.name);
            if (inModuleChecks) {
              core.checkNatively(alg.name);
              core.abandon(id);
            }
            return null;
          }
          if (cryptoKeys.size >= CRYPTO_KEYS_MAX) cryptoKeys.clear();
          cryptoKeys.set(name, key);
        }
        let ok = false;
        try {
          ok = await crypto.subtle.verify(alg.params[1], key, signature, input);
        } catch {
          ok = false;
        }
        if (ok) return i;
      }
      return -1;
    }

    #verified(json) {
      const claims = deepFreeze(JSON.parse(json));
      if (this.#remembers) this.#core.remember(claims);
      return claims;
    }

    #rejection(token) {
      const core = this.#core;
      const error = new TokenkeepError(core.rejectionCode(), core.rejectionMessage(), { httpStatus: core.rejectionStatus() });
      if (this.#listeners.has("jwt_validation_failed")) {
        this.#emit({ name: "jwt_validation_failed", reason: error.code, detail: error.message });
      }
      void token;
      return error;
    }

    // Starts what the core says is due (a refresh ahead of expiry, a retry) and
    // sends it; runs in the caller's waitUntil, never blocking the caller.
    async #runDue(now, waitUntil) {
      this.#nextDue = this.#core.tick(now);
      await this.#sendAll(waitUntil);
    }

    async #sendAll(waitUntil) {
      const sends = [];
      for (let text = this.#core.takeRequest(); text !== undefined; text = this.#core.takeRequest()) {
        sends.push(this.#send(JSON.parse(text), waitUntil));
      }
      this.#drain();
      await Promise.all(sends);
    }

    async #send(request, waitUntil) {
      const core = this.#core;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), request.timeout_ms);
      try {
        const response = await this.#fetch(request.url, {
          method: "GET",
          headers: request.headers,
          redirect: "manual",
          signal: controller.signal,
        });
        if (response.type === "opaqueredirect") {
          core.handleFailure(request.issuer, request.id, "redirect", Date.now());
        } else {
          const body = await readLimited(response, request.max_body_bytes);
          const headers = [];
          for (const name of KEPT_HEADERS) {
            const value = response.headers.get(name);
            if (value !== null) headers.push(name, value);
          }
          core.handleResponse(request.issuer, request.id, response.status, headers, body, Date.now());
        }
      } catch (error) {
        if (isTrap(error)) throw error;
        core.handleFailure(request.issuer, request.id, transportCode(error), Date.now());
      } finally {
        clearTimeout(timer);
      }
      this.#nextDue = core.nextDue();
      const write = this.#writePersisted(request.issuer);
      runInBackground(write, waitUntil);
      if (!waitUntil) await write;
      // A discovery answer queues the JWKS request at once.
      await this.#sendAll(waitUntil);
    }

    // Waits until `issuer`'s keys move past `generation`: for the fetch this
    // call started (`due`, e.g. a new isolate's first), sends the refetch the
    // core just started, or polls while another request's fetch runs.
    async #waitForKeys(issuer, generation, waitUntil, due) {
      const core = this.#core;
      const budget = core.waitBudgetMs(issuer);
      const deadline = Date.now() + budget;
      if (due) {
        // This call's own fetch: its answer ends the wait, not the next poll.
        let timer;
        await Promise.race([due.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, budget)))]);
        clearTimeout(timer);
      }
      let delay = 1;
      for (;;) {
        await this.#sendAll(waitUntil);
        if (core.generation(issuer) > generation || Date.now() >= deadline) return;
        await sleep(delay);
        delay = Math.min(delay * 2, 25);
        this.#nextDue = core.tick(Date.now());
      }
    }

    #drain() {
      const text = this.#core.drainEvents();
      if (text === "[]" || this.#listeners.size === 0) return;
      for (const event of JSON.parse(text)) this.#emit(event);
    }

    #emit(event) {
      for (const name of [event.name, "*"]) {
        for (const listener of this.#listeners.get(name) ?? []) {
          try {
            listener(event);
          } catch {
            // A listener's failure is its own.
          }
        }
      }
    }

    async #keyCache() {
      if (this.#cache !== undefined) return this.#cache;
      const chosen = this.#host.keyCache;
      let cache = null;
      if (chosen === false) cache = null;
      else if (chosen && typeof chosen.match === "function") cache = chosen;
      else if (typeof caches !== "undefined" && caches) {
        try {
          cache = caches.default ?? (typeof caches.open === "function" ? await caches.open("tokenkeep") : null);
        } catch {
          cache = null;
        }
      }
      this.#cache = cache;
      return cache;
    }

    // A new isolate starts from the last good key set another isolate stored,
    // when the core accepts it (its freshness and stale windows decide).
    async #readPersisted(now) {
      const cache = await this.#keyCache();
      const core = this.#core;
      for (let i = 0; i < this.#persistRead.length; i++) {
        if (this.#persistRead[i]) continue;
        const source = core.sourceUrl(i);
        if (!cache || source === undefined || core.usable(i, now)) {
          this.#persistRead[i] = true;
          continue;
        }
        try {
          const hit = await cache.match(CACHE_PREFIX + encodeURIComponent(source));
          if (hit) core.importKeys(i, await hit.text(), Date.now());
        } catch (error) {
          if (isTrap(error)) throw error;
        }
        this.#persistRead[i] = true;
      }
      this.#persistPending = this.#persistRead.includes(false);
      this.#nextDue = core.nextDue();
      this.#drain();
    }

    async #writePersisted(issuer) {
      const cache = await this.#keyCache();
      const source = this.#core.sourceUrl(issuer);
      const text = cache && source !== undefined ? this.#core.exportKeys(issuer) : undefined;
      if (text === undefined) return;
      const persisted = JSON.parse(text);
      if (persisted.fetched_at_ms <= this.#persistWritten[issuer]) return;
      this.#persistWritten[issuer] = persisted.fetched_at_ms;
      const maxAge = Math.max(1, Math.ceil((persisted.usable_until_ms - Date.now()) / 1000));
      const response = new Response(text, {
        headers: { "content-type": "application/json", "cache-control": `max-age=${maxAge}` },
      });
      try {
        await cache.put(CACHE_PREFIX + encodeURIComponent(source), response);
      } catch {
        // The persistent cache is an optimisation; the isolate keeps its keys.
      }
    }

    /** Loads keys for every issuer (persistent cache first), up to `timeoutMs`; whether all are usable. */
    async ready(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      const core = this.#core;
      await this.#readPersisted(Date.now());
      for (;;) {
        const now = Date.now();
        let all = true;
        for (let i = 0; i < core.issuerCount(); i++) all &&= core.usable(i, now);
        if (all) return true;
        if (now >= deadline || this.#closed) return false;
        this.#nextDue = core.tick(now);
        await this.#sendAll();
        await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
      }
    }

    /** Asks every fetched issuer for its keys now (the miss cooldown applies); whether a fetch ran for each. */
    async refresh(options = {}) {
      if (this.#closed) return false;
      const started = this.#core.requestRefresh(Date.now());
      await this.#sendAll(options.waitUntil);
      return started;
    }

    /** Health of every issuer's keys: `[{ issuer, cache: { state, keyCount, ageSeconds, … } }]`. */
    health() {
      return JSON.parse(this.#core.health(Date.now()), (key, value) => {
        if (value && typeof value === "object" && !Array.isArray(value)) {
          return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), v]));
        }
        return value;
      });
    }

    /** The issuers, in configuration order. */
    issuers() {
      const core = this.#core;
      return Array.from({ length: core.issuerCount() }, (_, i) => core.issuerName(i));
    }

    /** Listens to events by name (`jwks_refreshed`, `jwks_refresh_failed`, `jwt_validation_failed`, …, or `*`). */
    on(name, listener) {
      if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
      this.#listeners.get(name).add(listener);
      return this;
    }

    off(name, listener) {
      this.#listeners.get(name)?.delete(listener);
      return this;
    }

    /** Stops fetching; verification goes on with the keys at hand. Idempotent. */
    async close() {
      this.#closed = true;
    }

    isClosed() {
      return this.#closed;
    }

    async [Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")]() {
      await this.close();
    }

    /** Test-only: a real panic inside the module, to prove it surfaces as `internal_error`. */
    _debugPanic() {
      try {
        this.#core._debugPanic();
      } catch (error) {
        throw isTrap(error) ? this.#reset(error) : error;
      }
    }
  }

  return { Verifier, webCryptoFallbacks };
}

