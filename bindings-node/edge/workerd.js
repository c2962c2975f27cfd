// Cloudflare workerd (wrangler, miniflare): the bundler turns the `.wasm`
// import into a compiled WebAssembly.Module.
import module from "./wasm/tokenkeep_wasm_bg.wasm";
import { initSync } from "./wasm/tokenkeep_wasm.js";

initSync({ module });

export * from "./verifier.js";
