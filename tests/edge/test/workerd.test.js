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
import { startIssuer } from "./support.js";
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
    dispose: () => mf.dispose(),
  };
}

function cacheDir() {
  const dir = mkdtempSync(`${tmpdir()}/tokenkeep-edge-cache-`);
  persistDirs.push(dir);
  return dir;
}

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
