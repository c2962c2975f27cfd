// Vercel's edge runtime and Next.js middleware: `?module` is how their
// bundlers hand over a compiled WebAssembly.Module. Its WebCrypto checks
// every algorithm: the build without in-module signature checks.
import module from "./wasm/tokenkeep_wasm_bg.wasm?module";
import { initSync, Core } from "./wasm/tokenkeep_wasm.js";
import { inThisRealm } from "./realm.js";
import { edgeApi } from "./verifier.js";

initSync({ module: inThisRealm(module) });

export const { Verifier, webCryptoFallbacks } = edgeApi(Core);
export { TokenkeepError, isTokenkeepError } from "./verifier.js";
