// Loads the wasm32 build of the core's self-check, asserts it imports nothing
// from the host (no `env` module, no JS glue), and runs every shared vector in it.
import { readFileSync } from "node:fs";

const path = process.argv[2];
const module = new WebAssembly.Module(readFileSync(path));
const imports = WebAssembly.Module.imports(module);
const fromEnv = imports.filter((i) => i.module === "env");
console.log(`${path}: ${readFileSync(path).length} bytes, ${imports.length} imports`);
for (const i of imports) console.log(`  import ${i.module}.${i.name} (${i.kind})`);
if (fromEnv.length > 0) {
  console.error(`FAIL: the core's wasm imports ${fromEnv.length} symbol(s) from env`);
  process.exit(1);
}
const instance = new WebAssembly.Instance(module, {});
const total = instance.exports.tokenkeep_selfcheck_total();
const failures = instance.exports.tokenkeep_selfcheck_failures();
console.log(`wasm32 (ring backend): ${total - failures} passed, ${failures} failed`);
process.exit(failures === 0 && total > 0 ? 0 : 1);
