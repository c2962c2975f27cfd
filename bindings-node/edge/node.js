// The wasm build loaded directly by Node (tests, benchmarks, and Node until
// the native addon is installed): the module read from disk.
import { readFileSync } from "node:fs";
import { initSync } from "./wasm/tokenkeep_wasm.js";

initSync({ module: readFileSync(new URL("./wasm/tokenkeep_wasm_bg.wasm", import.meta.url)) });

export * from "./verifier.js";
