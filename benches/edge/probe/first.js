// A new isolate's first request (run by first.mjs): nothing, a Core built,
// WebCrypto alone, tokenkeep and jose verifying with keys given (no IdP).
import { Verifier } from "tokenkeep";
import { Core } from "../../../bindings-node/edge/wasm/tokenkeep_wasm.js";
import { jwtVerify, createLocalJWKSet } from "jose";
export default {
  async fetch(request, env) {
    const b = JSON.parse(env.BENCH);
    const c = b.cases.RS256;
    const op = new URL(request.url).searchParams.get("op");
    if (op === "core") new Core(JSON.stringify({ issuer: b.issuer, audience: b.audience, jwks: c.jwks }), new Uint32Array(4), Date.now());
    if (op === "tokenkeep") await Verifier.fromJwks(c.jwks, { issuer: b.issuer, audience: b.audience }).verify(c.token);
    if (op === "jose") await jwtVerify(c.token, createLocalJWKSet(c.jwks), { issuer: b.issuer, audience: b.audience });
    if (op === "subtle") {
      const { kty, n, e } = c.jwks.keys[0];
      const key = await crypto.subtle.importKey("jwk", { kty, n, e }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
      const [h, p, s] = c.token.split(".");
      const sig = Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
      await crypto.subtle.verify({ name: "RSASSA-PKCS1-v1_5" }, key, sig, new TextEncoder().encode(`${h}.${p}`));
    }
    return new Response("ok");
  },
};
