// Workers and browsers without a wasm-aware bundler: the module is fetched
// next to this file and compiled once. A browser's WebCrypto may lack an
// algorithm (Ed25519 in older ones): the build that can check it inside.
import init, { Core } from "./wasm-full/tokenkeep_wasm.js";
import { edgeApi } from "./verifier.js";

await init({ module_or_path: new URL("./wasm-full/tokenkeep_wasm_bg.wasm", import.meta.url) });

export const { Verifier, webCryptoFallbacks } = edgeApi(Core);
export { TokenkeepError, isTokenkeepError } from "./verifier.js";
