// Profiling aid, not a test or a peer benchmark: the module's synchronous
// work per warm verification on the WebCrypto path (step, pendingCheck,
// complete: what workerd runs around `crypto.subtle.verify`), under Node, on
// the shared vectors' keys and tokens (valid_rs256, valid_es256, valid_eddsa),
// so that instruction counts repeat from run to run. The signature is taken as
// checked (complete with candidate 0): only the module's own work is counted.
//
//   node benches/edge/probe/calls.mjs ALG N [DIR]     (after make edge-build)
//
// Instructions per call: run under callgrind with N = 0 and N = 20000 and
// divide the difference by 20000, e.g.
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//     node --no-liftoff --single-threaded benches/edge/probe/calls.mjs ES256 20000
// (--no-liftoff: optimized code from the first call, so the count is steady).
// DIR is another wasm-bindgen output directory, to compare builds.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const [alg = "ES256", n = "1000", dir = `${root}bindings-node/edge/wasm`] = process.argv.slice(2);
const m = await import(`${dir}/tokenkeep_wasm.js`);
m.initSync({ module: readFileSync(`${dir}/tokenkeep_wasm_bg.wasm`) });
const vectors = JSON.parse(readFileSync(`${root}tests/vectors/valid.json`, "utf8")).vectors;
const v = vectors.find((x) => x.name === `valid_${alg.toLowerCase()}`);
if (!v) throw new Error(`no vector valid_${alg.toLowerCase()}`);
const spec = JSON.stringify({
  issuer: v.policy.issuers[0],
  audience: v.policy.audiences[0],
  jwks: v.jwks,
  cache: { verified_tokens: 0 },
});
const ms = v.now * 1000;
const core = new m.Core(spec, new Uint32Array(4), ms);
for (let i = 0; i < Number(n); i++) {
  const id = core.step(v.token, ms, ms, true);
  if (typeof id !== "number" || id < 0) throw new Error(`step answered ${id}`);
  core.pendingCheck(id);
  if (typeof core.complete(id, 0, ms, true) !== "string") throw new Error("not verified");
}
