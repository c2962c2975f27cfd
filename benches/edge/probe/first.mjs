// Profiling aid, not a test or a peer benchmark: a new workerd isolate's first
// request per operation (median and minimum of 7 new isolates), to separate
// the module's first calls from WebCrypto's and from the IdP fetch.
//
//   node benches/edge/probe/first.mjs     (after make edge-build)
import { execFileSync } from "node:child_process";
import { Miniflare } from "miniflare";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
const here = new URL("./", import.meta.url).pathname;
const ISSUER = "https://issuer.bench.test", AUDIENCE = "api://bench";
const now = Math.floor(Date.now() / 1000);
const { publicKey, privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: "rs-1", alg: "RS256", use: "sig" };
const token = await new SignJWT({ sub: "user-1" }).setProtectedHeader({ alg: "RS256", kid: "rs-1", typ: "JWT" }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt(now - 10).setExpirationTime(now + 3600).sign(privateKey);
execFileSync("npx", ["wrangler", "deploy", "first.js", "--dry-run", "--outdir", "dist/first", "--name", "probe", "--compatibility-date", "2026-05-01"],
  { cwd: here, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" }, stdio: ["ignore", "ignore", "inherit"] });
const bench = JSON.stringify({ issuer: ISSUER, audience: AUDIENCE, cases: { RS256: { jwks: { keys: [jwk] }, token } } });
const res = {};
for (let r = 0; r < 7; r++) for (const op of ["none", "core", "subtle", "tokenkeep", "jose"]) {
  const mf = new Miniflare({ modules: true, scriptPath: `${here}dist/first/first.js`, modulesRules: [{ type: "ESModule", include: ["**/*.js"] }, { type: "CompiledWasm", include: ["**/*.wasm"] }], compatibilityDate: "2026-05-01", bindings: { BENCH: bench } });
  await mf.ready;
  const t0 = performance.now();
  const resp = await mf.dispatchFetch(`http://x/?op=${op}`);
  if ((await resp.text()) !== "ok") throw new Error(op);
  (res[op] ??= []).push(performance.now() - t0);
  await mf.dispose();
}
for (const [op, ts] of Object.entries(res)) { ts.sort((a, b) => a - b); console.log(op, `median ${ts[3].toFixed(1)} ms  min ${ts[0].toFixed(1)} ms`); }
