// The wasm build loaded directly by Node (tests, benchmarks, and Node until
// the native addon is installed): the module read from disk. Node's WebCrypto
// checks every algorithm: the build without in-module signature checks.
import { readFileSync } from "node:fs";
import { initSync, Core } from "./wasm/tokenkeep_wasm.js";
import { edgeApi } from "./verifier.js";

initSync({ module: readFileSync(new URL("./wasm/tokenkeep_wasm_bg.wasm", import.meta.url)) });

export const { Verifier, webCryptoFallbacks } = edgeApi(Core);
export { TokenkeepError, isTokenkeepError } from "./verifier.js";
