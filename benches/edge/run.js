// Edge benchmark (not a test): per algorithm, inside workerd (miniflare) and
// inside edge-runtime, tokenkeep `verify` (key imported, verified-token cache
// off), a verified-token cache hit, jose `jwtVerify` with `createLocalJWKSet`
// and @cfworker/jwt (RS* only); then a cold isolate's first verification in
// workerd with and without the persistent key cache, counting IdP requests.
// Per-op times come from outside the runtime (workerd's clock does not move
// while a request computes): (time of a request doing n verifications − time
// of one doing none) / n, best of interleaved rounds.
//
//   node benches/edge/run.js            (make bench-edge builds what it needs first)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { EdgeRuntime } from "edge-runtime";
import { build } from "esbuild";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { startIssuer } from "../../tests/edge/test/support.js";

const here = fileURLToPath(new URL("./", import.meta.url));
const N = Number(process.env.BENCH_N ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const COLD_ROUNDS = Number(process.env.BENCH_COLD_ROUNDS ?? 9);
const ISSUER = "https://issuer.bench.test";
const AUDIENCE = "api://bench";
const LIBS = ["tokenkeep", "tokenkeep_hit", "jose", "cfworker"];
const ALGS = { RS256: { modulusLength: 2048 }, ES256: {}, EdDSA: { crv: "Ed25519" } };

async function cases() {
  const out = {};
  const now = Math.floor(Date.now() / 1000);
  for (const [alg, options] of Object.entries(ALGS)) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: `${alg.toLowerCase()}-1`, alg, use: "sig" };
    const token = await new SignJWT({ sub: "user-1", scope: "read write" })
      .setProtectedHeader({ alg, kid: jwk.kid, typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now - 10)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    out[alg] = { jwks: { keys: [jwk] }, token };
  }
  return { issuer: ISSUER, audience: AUDIENCE, cases: out };
}

function wrangler(entry, outdir) {
  execFileSync(
    "npx",
    ["wrangler", "deploy", entry, "--dry-run", "--outdir", outdir, "--name", "bench", "--compatibility-date", "2026-05-01"],
    { cwd: here, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" }, stdio: ["ignore", "ignore", "inherit"] },
  );
}

function miniflare(scriptPath, bindings, cachePersist) {
  return new Miniflare({
    modules: true,
    scriptPath,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-05-01",
    bindings,
    cachePersist,
  });
}

async function edgeRuntime(bench) {
  let wasmBytes;
  const result = await build({
    entryPoints: [`${here}src/edge-light.js`],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    conditions: ["edge-light"],
    logLevel: "error",
    plugins: [
      {
        name: "wasm-module",
        setup(b) {
          b.onResolve({ filter: /\.wasm\?module$/ }, (args) => ({
            path: fileURLToPath(new URL(args.path.replace(/\?module$/, ""), `file://${args.resolveDir}/`)),
            namespace: "wasm-module",
          }));
          b.onLoad({ filter: /.*/, namespace: "wasm-module" }, (args) => {
            wasmBytes = readFileSync(args.path);
            return { contents: "export default globalThis.__TOKENKEEP_WASM_MODULE;", loader: "js" };
          });
        },
      },
    ],
  });
  const runtime = new EdgeRuntime();
  runtime.context.BENCH_ENV = { BENCH: bench };
  runtime.context.__TOKENKEEP_WASM_MODULE = new (runtime.evaluate("WebAssembly").Module)(new Uint8Array(wasmBytes));
  runtime.evaluate(result.outputFiles[0].text);
  return (url) => runtime.dispatchFetch(url);
}

async function measure(name, dispatch) {
  const call = async (lib, alg, n) => {
    const t0 = performance.now();
    const r = await dispatch(`http://bench.test/run?lib=${lib}&alg=${alg}&n=${n}`);
    const body = await r.text();
    const t = performance.now() - t0;
    return r.status === 200 ? t : body === "unsupported" ? null : Promise.reject(new Error(`${lib} ${alg}: ${body}`));
  };
  const table = {};
  for (const alg of Object.keys(ALGS)) {
    // Fastest request doing N verifications and fastest doing none, each over
    // the interleaved rounds: what the machine's other load adds is not counted.
    const full = Object.fromEntries(LIBS.map((l) => [l, Infinity]));
    const empty = Object.fromEntries(LIBS.map((l) => [l, Infinity]));
    for (const lib of LIBS) if ((await call(lib, alg, 200)) === null) full[lib] = null; // warm-up: keys imported
    for (let round = 0; round < ROUNDS; round++) {
      for (const lib of LIBS) {
        if (full[lib] === null) continue;
        empty[lib] = Math.min(empty[lib], await call(lib, alg, 0));
        full[lib] = Math.min(full[lib], await call(lib, alg, N));
      }
    }
    table[alg] = Object.fromEntries(LIBS.map((l) => [l, full[l] === null ? null : ((full[l] - empty[l]) * 1000) / N]));
  }
  const us = (x) => (x === null ? "n/a" : `${x.toFixed(2)} µs`);
  const ratio = (a, b) => (a === null || b === null ? "n/a" : `${(a / b).toFixed(2)}x`);
  console.log(`\n${name} (best of ${ROUNDS} rounds × ${N}; ratio = peer time / tokenkeep time, above 1 means tokenkeep is faster)`);
  console.log("| alg | tokenkeep verify | cache hit | jose | @cfworker/jwt | jose / verify | jose / hit | cfworker / verify |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const [alg, t] of Object.entries(table)) {
    console.log(
      `| ${alg} | ${us(t.tokenkeep)} | ${us(t.tokenkeep_hit)} | ${us(t.jose)} | ${us(t.cfworker)} | ${ratio(t.jose, t.tokenkeep)} | ${ratio(t.jose, t.tokenkeep_hit)} | ${ratio(t.cfworker, t.tokenkeep)} |`,
    );
  }
}

async function cold(dist) {
  const idp = await startIssuer({ maxAge: "5m", algs: ["RS256"] });
  const dirs = [];
  const fresh = () => {
    const d = mkdtempSync(`${tmpdir()}/tokenkeep-bench-cache-`);
    dirs.push(d);
    return d;
  };
  try {
    const token = await idp.mint({ aud: AUDIENCE }, "RS256");
    const bindings = { ISSUER: idp.issuer, AUDIENCE, JWKS_URL: idp.jwksUrl };
    const first = async (lib, cachePersist) => {
      const mf = miniflare(`${dist}cold.js`, bindings, cachePersist);
      await mf.ready;
      const before = await idp.keyRequests();
      const t0 = performance.now();
      const r = await mf.dispatchFetch(`http://bench.test/?lib=${lib}`, { headers: { authorization: `Bearer ${token}` } });
      await r.text();
      const ms = performance.now() - t0;
      if (r.status !== 200) throw new Error(`${lib}: ${r.status}`);
      const requests = (await idp.keyRequests()) - before;
      return { mf, ms, requests };
    };
    // A persistent cache filled by an earlier isolate.
    const warmDir = fresh();
    const filler = await first("tokenkeep", warmDir);
    for (let i = 0; i < 100 && !(await hasPersisted(filler.mf, idp.jwksUrl)); i++) await new Promise((r) => setTimeout(r, 50));
    await filler.mf.dispose();
    const rows = [
      ["tokenkeep, persistent key cache filled by another isolate", "tokenkeep", () => warmDir],
      ["tokenkeep, persistent key cache empty", "tokenkeep", fresh],
      ["tokenkeep, keyCache: false", "tokenkeep_nocache", fresh],
      ["jose createRemoteJWKSet", "jose", fresh],
      ["@cfworker/jwt (discovery, RS256)", "cfworker", fresh],
    ];
    const results = [];
    for (const [label, lib, dir] of rows) {
      const times = [];
      let requests = 0;
      for (let i = 0; i < COLD_ROUNDS; i++) {
        const { mf, ms, requests: n } = await first(lib, dir());
        times.push(ms);
        requests = Math.max(requests, n);
        await mf.dispose();
      }
      times.sort((a, b) => a - b);
      results.push({ label, lib, ms: times[Math.floor(times.length / 2)], requests });
    }
    const jose = results.find((r) => r.lib === "jose").ms;
    console.log(`\nworkerd cold isolate: first verification (RS256, median of ${COLD_ROUNDS} new isolates; IdP requests per isolate; ratio = jose time / this time)`);
    console.log("| variant | first verify | jose / this | IdP requests |");
    console.log("|---|---|---|---|");
    for (const r of results) console.log(`| ${r.label} | ${r.ms.toFixed(1)} ms | ${(jose / r.ms).toFixed(2)}x | ${r.requests} |`);
  } finally {
    await idp.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function hasPersisted(mf, source) {
  const cache = await mf.getCaches();
  return Boolean(await cache.default.match(`https://tokenkeep.invalid/jwks/v1?source=${encodeURIComponent(source)}`));
}

// BENCH_ONLY=workerd|edge-runtime|cold runs one part.
const only = process.env.BENCH_ONLY;
const bench = JSON.stringify(await cases());
const dist = `${here}dist/`;
console.log(`load average before the run: ${(await import("node:os")).loadavg().map((x) => x.toFixed(2)).join(" ")}`);
if (!only || only === "workerd") {
  wrangler("src/workerd.js", `${dist}run`);
  const mf = miniflare(`${dist}run/workerd.js`, { BENCH: bench });
  const version = execFileSync("npx", ["workerd", "--version"], { cwd: here }).toString().trim();
  await measure(`workerd (miniflare 4, ${version})`, (url) => mf.dispatchFetch(url));
  await mf.dispose();
}
if (!only || only === "edge-runtime") {
  await measure(`edge-runtime (npm edge-runtime 4, Node ${process.version})`, await edgeRuntime(bench));
}
if (!only || only === "cold") {
  wrangler("src/cold.js", `${dist}cold`);
  await cold(`${dist}cold/`);
}
