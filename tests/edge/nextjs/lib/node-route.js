// The route handler on the Node runtime: verifies again with tokenkeep's
// native addon (the package's `node` export, loaded from node_modules:
// next.config.mjs lists it in serverExternalPackages).
import * as tokenkeep from "tokenkeep";
import { authenticate, verifierOptions } from "./auth.js";

// Whether the addon is loaded in this process (its shared object is mapped),
// not only which exports the package has.
function build() {
  const loaded = process.report.getReport().sharedObjects.some((p) => /[/\\]tokenkeep\.[^/\\]+\.node$/.test(p));
  return loaded && typeof tokenkeep.metricsText === "function" ? "native" : "other";
}

let verifier;
let identity;

export async function GET(request) {
  verifier ??= new tokenkeep.Verifier(verifierOptions());
  identity ??= `${process.env.NEXT_RUNTIME} ${build()}`;
  const headers = { "x-tokenkeep-node": identity };
  const result = await authenticate(verifier, request, headers);
  if (result.response) return result.response;
  const body = { sub: result.claims.sub, edgeVerified: request.headers.get("x-verified-sub") };
  return Response.json(body, { headers });
}
