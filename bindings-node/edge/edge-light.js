// Vercel's edge runtime and Next.js middleware: `?module` is how their
// bundlers hand over a compiled WebAssembly.Module.
import module from "./wasm/tokenkeep_wasm_bg.wasm?module";
import { initSync } from "./wasm/tokenkeep_wasm.js";

initSync({ module });

export * from "./verifier.js";
