// In real workerd (miniflare from npm), a worker bundled as wrangler bundles it
// (`wrangler deploy --dry-run`: esbuild, the `workerd` condition, the .wasm as
// a compiled module) that imports `tokenkeep` by package name, against the dev
// issuer on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { allVectors, startIssuer, vectorServer } from "./support.js";
import { flows } from "./flows.js";

const workerDir = fileURLToPath(new URL("../worker/", import.meta.url));
const dist = `${workerDir}dist/`;

before(() => {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", dist], {
    cwd: workerDir,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: ["ignore", "ignore", "inherit"],
  });
});

const persistDirs = [];
after(() => {
  for (const dir of persistDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh workerd isolate running the bundle; `cacheDir` shares Cache API storage between instances. */
function isolate(env, cacheDir) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: `${dist}index.js`,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-05-01",
    bindings: env,
    cachePersist: cacheDir,
  });
  return {
    async call(path, token) {
      const response = await mf.dispatchFetch(`http://edge.test${path}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      return { status: response.status, header: response.headers.get("www-authenticate"), body: await response.json() };
    },
    async post(path, body) {
      const response = await mf.dispatchFetch(`http://edge.test${path}`, { method: "POST", body: JSON.stringify(body) });
      return response.json();
    },
    dispose: () => mf.dispose(),
  };
}

function cacheDir() {
  const dir = mkdtempSync(`${tmpdir()}/tokenkeep-edge-cache-`);
  persistDirs.push(dir);
  return dir;
}

test("workerd: every shared vector, keys fetched from 127.0.0.1 (WebCrypto and wasm signatures)", async () => {
  const served = await vectorServer(allVectors());
  const edge = isolate({}, cacheDir());
  try {
    for (const signatures of ["webcrypto", "wasm"]) {
      let passed = 0;
      for (const r of served.requests) {
        const response = await edge.post("/vector", { ...r.body, signatures });
        assert.deepEqual(response, r.expect, `${r.name} (${signatures})`);
        passed++;
      }
      console.log(`# workerd ${signatures}: ${passed} vectors passed`);
    }
    console.log(`# workerd WebCrypto lacks: ${JSON.stringify((await edge.call("/fallbacks")).body)}`);
  } finally {
    await edge.dispose();
    await served.close();
  }
});

for (const [name, flow] of Object.entries(flows)) {
  test(`workerd: ${name}`, async () => {
    const idp = await startIssuer({ maxAge: "2s", algs: ["ES256", "RS256", "EdDSA"] });
    try {
      await flow({ idp, isolate: (env = {}, dir = cacheDir()) => isolate({ ISSUER: idp.issuer, ...env }, dir), cacheDir });
    } finally {
      await idp.stop();
    }
  });
}
