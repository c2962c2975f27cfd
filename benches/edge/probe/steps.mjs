// Profiling aid, not a test or a peer benchmark: per-op time of each part of
// a warm verification inside workerd (miniflare), measured from outside like
// run.js (n operations per request minus none, best of 7 rounds).
//
//   node benches/edge/probe/steps.mjs     (after make edge-build; ALGS=RS256,ES256,EdDSA OPS=full,subtle,…)
import { execFileSync } from "node:child_process";
import { Miniflare } from "miniflare";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
const here = new URL("./", import.meta.url).pathname;
const ALGS = { RS256: { modulusLength: 2048 }, ES256: {}, EdDSA: { crv: "Ed25519" } };
const ISSUER = "https://issuer.bench.test", AUDIENCE = "api://bench";
const now = Math.floor(Date.now() / 1000);
const cases = {};
for (const [alg, options] of Object.entries(ALGS)) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: `${alg.toLowerCase()}-1`, alg, use: "sig" };
  const token = await new SignJWT({ sub: "user-1", scope: "read write" }).setProtectedHeader({ alg, kid: jwk.kid, typ: "JWT" })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt(now - 10).setExpirationTime(now + 3600).sign(privateKey);
  cases[alg] = { jwks: { keys: [jwk] }, token };
}
execFileSync("npx", ["wrangler", "deploy", "steps.js", "--dry-run", "--outdir", "dist/steps", "--name", "probe", "--compatibility-date", "2026-05-01"],
  { cwd: here, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" }, stdio: ["ignore", "ignore", "inherit"] });
const N = 2000;
for (const alg of (process.env.ALGS ?? "RS256").split(",")) {
  const mf = new Miniflare({ modules: true, scriptPath: `${here}dist/steps/steps.js`, modulesRules: [{ type: "ESModule", include: ["**/*.js"] }, { type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-05-01", bindings: { BENCH: JSON.stringify({ issuer: ISSUER, audience: AUDIENCE, cases }), ALG: alg } });
  const ops = (process.env.OPS ?? "full,subtle,sync,step,check,complete,parse,reject").split(",");
  const call = async (op, n) => { const t0 = performance.now(); const r = await mf.dispatchFetch(`http://x/?op=${op}&n=${n}`); const b = await r.text(); if (b !== "ok") throw new Error(b); return performance.now() - t0; };
  const best = {}, empty = {};
  for (const op of ops) await call(op, 300);
  for (let r = 0; r < 7; r++) for (const op of ops) { empty[op] = Math.min(empty[op] ?? 1e9, await call(op, 0)); best[op] = Math.min(best[op] ?? 1e9, await call(op, N)); }
  console.log(alg, ops.map((o) => `${o} ${(((best[o] - empty[o]) * 1000) / N).toFixed(2)}us`).join("  "));
  await mf.dispose();
}
