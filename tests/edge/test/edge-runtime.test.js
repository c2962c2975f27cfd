// In Vercel's edge-runtime (npm): the test app bundled with esbuild under the
// `edge-light` condition, the wasm handed over as a compiled module the way
// Next.js hands `?module` imports to edge functions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { EdgeRuntime } from "edge-runtime";
import { allVectors, startIssuer, vectorServer } from "./support.js";
import { flows } from "./flows.js";

const workerDir = fileURLToPath(new URL("../worker/", import.meta.url));
let bundle;
// The bundle's .wasm modules (the build with and without in-module checks), by path.
const wasmBytes = new Map();

async function bundled() {
  if (bundle) return bundle;
  const result = await build({
    entryPoints: [`${workerDir}src/edge-light.js`],
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
            wasmBytes.set(args.path, readFileSync(args.path));
            return { contents: `export default globalThis.__TOKENKEEP_WASM_MODULES[${JSON.stringify(args.path)}];`, loader: "js" };
          });
        },
      },
    ],
  });
  bundle = result.outputFiles[0].text;
  return bundle;
}

async function isolate(env) {
  const code = await bundled();
  // The module is compiled inside the runtime's own context, as the platform does.
  const runtime = new EdgeRuntime();
  runtime.context.TEST_ENV = env;
  const Module = runtime.evaluate("WebAssembly").Module;
  runtime.context.__TOKENKEEP_WASM_MODULES = Object.fromEntries(
    [...wasmBytes].map(([path, bytes]) => [path, new Module(new Uint8Array(bytes))]),
  );
  runtime.evaluate(code);
  return {
    async call(path, token) {
      const response = await runtime.dispatchFetch(`http://edge.test${path}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      const body = await response.json();
      return { status: response.status, header: response.headers.get("www-authenticate"), body };
    },
    async post(path, body) {
      const response = await runtime.dispatchFetch(`http://edge.test${path}`, { method: "POST", body: JSON.stringify(body) });
      return response.json();
    },
    async dispose() {},
  };
}

test("edge-runtime: every shared vector, keys fetched from 127.0.0.1 (WebCrypto and wasm signatures)", async () => {
  const served = await vectorServer(allVectors());
  const edge = await isolate({});
  try {
    for (const signatures of ["webcrypto", "wasm"]) {
      let passed = 0;
      for (const r of served.requests) {
        assert.deepEqual(await edge.post("/vector", { ...r.body, signatures }), r.expect, `${r.name} (${signatures})`);
        passed++;
      }
      console.log(`# edge-runtime ${signatures}: ${passed} vectors passed`);
    }
    console.log(`# edge-runtime WebCrypto lacks: ${JSON.stringify((await edge.call("/fallbacks")).body)}`);
  } finally {
    await served.close();
  }
});

for (const [name, flow] of Object.entries(flows)) {
  // Vercel's edge runtime has no cache shared by isolates: that flow is workerd's.
  if (name.includes("second isolate")) continue;
  test(`edge-runtime: ${name}`, async () => {
    const idp = await startIssuer({ maxAge: "2s", algs: ["ES256", "RS256", "EdDSA"] });
    try {
      await flow({ idp, isolate: (env = {}) => isolate({ ISSUER: idp.issuer, ...env }) });
    } finally {
      await idp.stop();
    }
  });
}
