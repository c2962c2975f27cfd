// Cloudflare workerd (wrangler, miniflare): the bundler turns the `.wasm`
// import into a compiled WebAssembly.Module. workerd's WebCrypto checks every
// algorithm, so this is the build without in-module signature checks.
import module from "./wasm/tokenkeep_wasm_bg.wasm";
import { initSync, Core } from "./wasm/tokenkeep_wasm.js";
import { edgeApi } from "./verifier.js";

initSync({ module });

export const { Verifier, webCryptoFallbacks } = edgeApi(Core);
export { TokenkeepError, isTokenkeepError } from "./verifier.js";
