// Where a warm edge verification's time goes, inside workerd (run by
// steps.mjs): the whole verify, WebCrypto alone, and the module's synchronous
// parts (step, pendingCheck, complete, JSON.parse) called directly; jose for scale.
import { Verifier } from "tokenkeep";
import { jwtVerify, createLocalJWKSet } from "jose";
import { Core } from "../../../bindings-node/edge/wasm/tokenkeep_wasm.js";
let st;
function setup(env) {
  if (st) return st;
  const b = JSON.parse(env.BENCH);
  const c = b.cases[env.ALG];
  const spec = JSON.stringify({ issuer: b.issuer, audience: b.audience, jwks: c.jwks, cache: { verified_tokens: 0 } });
  st = { c, issuer: b.issuer, audience: b.audience, core: new Core(spec, new Uint32Array(4), Date.now()), v: Verifier.fromJwks(c.jwks, { issuer: b.issuer, audience: b.audience, cache: { verified_tokens: 0 } }) };
  const [h, p, s] = c.token.split(".");
  st.input = new TextEncoder().encode(`${h}.${p}`);
  st.sig = Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
  return st;
}
const ops = {
  async full(s) { await s.v.verify(s.c.token); },
  async jose(s) { await jwtVerify(s.c.token, (s.jwks ??= createLocalJWKSet(s.c.jwks)), { issuer: s.issuer, audience: s.audience }); },
  async subtle(s) { await crypto.subtle.verify(s.params, s.key, s.sig, s.input); },
  async sync(s) { const ms = Date.now(); const id = s.core.step(s.c.token, ms, ms, true); const chk = s.core.pendingCheck(id); JSON.parse(s.core.complete(id, 0, ms, true)); },
  async step(s) { const ms = Date.now(); const id = s.core.step(s.c.token, ms, ms, true); s.core.abandon(id); },
  async check(s) { const ms = Date.now(); const id = s.core.step(s.c.token, ms, ms, true); s.core.pendingCheck(id); s.core.abandon(id); },
  async complete(s) { const ms = Date.now(); const id = s.core.step(s.c.token, ms, ms, true); s.core.complete(id, 0, ms, true); },
  async parse(s) { JSON.parse(s.json ??= (() => { const ms = Date.now(); const id = s.core.step(s.c.token, ms, ms, true); return s.core.complete(id, 0, ms, true); })()); },
  async pass(s) { const ms = Date.now(); s.core.step(s.bad ??= s.c.token.replace(/\./g, "_"), ms, ms, true); },
  async reject(s) { const ms = Date.now(); s.core.step("x", ms, ms, true); },
  async nothing(s) {},
};
export default {
  async fetch(request, env) {
    const s = setup(env);
    if (!s.key) {
      const alg = env.ALG;
      const imp = alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" };
      s.params = alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5" } : alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
      const { kty, n, e, crv, x, y } = s.c.jwks.keys[0];
      s.key = await crypto.subtle.importKey("jwk", kty === "RSA" ? { kty, n, e } : kty === "EC" ? { kty, crv, x, y } : { kty, crv, x }, imp, false, ["verify"]);
    }
    const url = new URL(request.url);
    const op = ops[url.searchParams.get("op")];
    const n = Number(url.searchParams.get("n"));
    for (let i = 0; i < n; i++) await op(s);
    return new Response("ok");
  },
};
