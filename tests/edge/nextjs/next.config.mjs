// The Next.js app of the edge tests (tests/edge/test/nextjs.test.js packs
// bindings-node into this app's node_modules, builds and starts it). Its
// packages come from tests/edge/node_modules (one lockfile), so that is the
// bundler's root. The Node route handler loads `tokenkeep` (and its native
// addon) from node_modules at run time instead of bundling it, as any package
// with a `.node` file must be; the edge middleware gets it bundled (wasm).
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));

export default {
  serverExternalPackages: ["tokenkeep"],
  turbopack: { root },
  outputFileTracingRoot: root,
};
