// `tokenkeep/full` on workerd: the build that also checks signatures inside
// the module (`verifySync`, `signatures: "wasm"`).
import module from "./wasm-full/tokenkeep_wasm_bg.wasm";
import { initSync, Core } from "./wasm-full/tokenkeep_wasm.js";
import { edgeApi } from "./verifier.js";

initSync({ module });

export const { Verifier, webCryptoFallbacks } = edgeApi(Core);
export { TokenkeepError, isTokenkeepError } from "./verifier.js";
