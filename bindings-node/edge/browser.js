// Workers and browsers without a wasm-aware bundler: the module is fetched
// next to this file and compiled once.
import init from "./wasm/tokenkeep_wasm.js";

await init({ module_or_path: new URL("./wasm/tokenkeep_wasm_bg.wasm", import.meta.url) });

export * from "./verifier.js";
