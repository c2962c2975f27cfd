// In Vercel's edge-runtime (npm): the test app bundled with esbuild under the
// `edge-light` condition, the wasm handed over as a compiled module the way
// Next.js hands `?module` imports to edge functions.
import { test } from "node:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { EdgeRuntime } from "edge-runtime";
import { startIssuer } from "./support.js";
import { flows } from "./flows.js";

const workerDir = fileURLToPath(new URL("../worker/", import.meta.url));
let bundle;
let wasmBytes;

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
            wasmBytes = readFileSync(args.path);
            return { contents: "export default globalThis.__TOKENKEEP_WASM_MODULE;", loader: "js" };
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
  const runtime = new EdgeRuntime({
    initialCode: code,
    extend(context) {
      context.TEST_ENV = env;
      context.__TOKENKEEP_WASM_MODULE = new context.WebAssembly.Module(wasmBytes);
      return context;
    },
  });
  return {
    async call(path, token) {
      const response = await runtime.dispatchFetch(`http://edge.test${path}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      const body = await response.json();
      return { status: response.status, header: response.headers.get("www-authenticate"), body };
    },
    async dispose() {},
  };
}

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
