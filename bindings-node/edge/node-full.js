// `tokenkeep/full` under Node: the wasm build with in-module signature checks,
// read from disk.
import { readFileSync } from "node:fs";
import { initSync, Core } from "./wasm-full/tokenkeep_wasm.js";
import { edgeApi } from "./verifier.js";

initSync({ module: readFileSync(new URL("./wasm-full/tokenkeep_wasm_bg.wasm", import.meta.url)) });

export const { Verifier, webCryptoFallbacks } = edgeApi(Core);
export { TokenkeepError, isTokenkeepError } from "./verifier.js";
