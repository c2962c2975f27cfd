// `next start` compiles `?module` imports in the server's own realm, outside
// the edge sandbox: the module then fails the sandbox's `instanceof
// WebAssembly.Module`, and initSync would try to compile it again from bytes
// (a TypeError). A compiled module from another realm (Module.exports accepts
// only those) gets this realm's prototype; instantiating it needs nothing else.
export function inThisRealm(m) {
  if (m instanceof WebAssembly.Module) return m;
  WebAssembly.Module.exports(m);
  return Object.setPrototypeOf(m, WebAssembly.Module.prototype);
}
