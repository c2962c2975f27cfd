// Vercel's edge runtime and Next.js middleware: `?module` is how their
// bundlers hand over a compiled WebAssembly.Module.
import module from "./wasm/tokenkeep_wasm_bg.wasm?module";
import { initSync } from "./wasm/tokenkeep_wasm.js";

// `next start` compiles `?module` imports in the server's own realm, outside
// the edge sandbox: the module then fails the sandbox's `instanceof
// WebAssembly.Module`, and initSync would try to compile it again from bytes
// (a TypeError). A compiled module from another realm (Module.exports accepts
// only those) gets this realm's prototype; instantiating it needs nothing else.
function inThisRealm(m) {
  if (m instanceof WebAssembly.Module) return m;
  WebAssembly.Module.exports(m);
  return Object.setPrototypeOf(m, WebAssembly.Module.prototype);
}

initSync({ module: inThisRealm(module) });

export * from "./verifier.js";
