// `tokenkeep/full` on Vercel's edge runtime: the build that also checks
// signatures inside the module (`verifySync`, `signatures: "wasm"`).
import module from "./wasm-full/tokenkeep_wasm_bg.wasm?module";
import { initSync, Core } from "./wasm-full/tokenkeep_wasm.js";
import { inThisRealm } from "./realm.js";
import { edgeApi } from "./verifier.js";

initSync({ module: inThisRealm(module) });

export const { Verifier, webCryptoFallbacks } = edgeApi(Core);
export { TokenkeepError, isTokenkeepError } from "./verifier.js";
