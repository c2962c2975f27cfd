// The app every edge test runs (workerd, edge-runtime): a tiny API guarded
// by tokenkeep, imported by package name as a user would.
import { Verifier, isTokenkeepError, webCryptoFallbacks } from "tokenkeep";
// The build with in-module signature checks, for `signatures: "wasm"`.
import { Verifier as FullVerifier } from "tokenkeep/full";

let verifier;
const vectorVerifiers = new Map();

// One shared vector: {spec, token, now, signatures} -> {claims} | {code}.
async function vector(request) {
  const { spec, token, now, signatures } = await request.json();
  const key = JSON.stringify([spec, signatures]);
  let v = vectorVerifiers.get(key);
  if (!v) {
    v = signatures === "wasm" ? new FullVerifier(spec, { signatures, keyCache: false }) : new Verifier(spec, { keyCache: false });
    vectorVerifiers.set(key, v);
  }
  try {
    return json({ claims: await v.verify(token, { now }) });
  } catch (error) {
    if (!isTokenkeepError(error)) throw error;
    return json({ code: error.code });
  }
}

function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function options(env) {
  // Short windows so a test sees refreshes and stale keys within seconds.
  const cache = { min_ttl: 1, ttl: 2, stale_if_error: "1m", request_timeout: 2, miss_cooldown: 1 };
  const spec = env.JWKS_URL
    ? { issuer: env.ISSUER, audience: "api://edge", jwksUrl: env.JWKS_URL, cache }
    : { issuer: env.ISSUER, audience: "api://edge", cache };
  return spec;
}

export async function handle(request, env, waitUntil) {
  const url = new URL(request.url);
  if (url.pathname === "/vector") return vector(request);
  if (url.pathname === "/fallbacks") return json(webCryptoFallbacks());
  verifier ??= new Verifier(options(env), env.KEY_CACHE === "off" ? { keyCache: false } : {});
  if (url.pathname === "/health") return json(verifier.health());
  if (url.pathname === "/persisted") {
    // Whether this isolate's key cache holds the issuer's keys (tests wait on it).
    const hit = await globalThis.caches?.default?.match(url.searchParams.get("key"));
    return json({ present: Boolean(hit) });
  }
  // The module's answer: the header's token, the status and the challenge are the core's.
  const result = await verifier.authenticate(request.headers.get("authorization"), url.searchParams.has("blocking") ? {} : { waitUntil });
  if (result.ok) return json({ ok: true, sub: result.claims.sub });
  return json({ ok: false, code: result.body.error }, result.status, result.headers);
}
