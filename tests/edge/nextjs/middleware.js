// Guards /api/* on the edge runtime with tokenkeep's wasm build.
//
// Why `middleware.js` and not `proxy.js`: Next.js 16 renamed middleware to
// proxy, but proxy always runs on the Node.js runtime (a `runtime` option
// there fails the build). The deprecated middleware file still runs on the
// edge runtime (its default), which is what this app tests: `tokenkeep`
// resolved under the `edge-light` condition to the wasm build.
import { NextResponse } from "next/server";
import * as tokenkeep from "tokenkeep";
import { authenticate, verifierOptions } from "./lib/auth.js";

// Which runtime ran this (NEXT_RUNTIME, and the edge sandbox's own
// `EdgeRuntime` global) and which tokenkeep build it loaded (only the wasm
// build has webCryptoFallbacks), sent on every answer so the test can check.
const runtime = typeof EdgeRuntime === "string" ? process.env.NEXT_RUNTIME : "no-EdgeRuntime-global";
const identity = `${runtime} ${typeof tokenkeep.webCryptoFallbacks === "function" ? "wasm" : "native"}`;
let verifier;

export async function middleware(request, event) {
  verifier ??= new tokenkeep.Verifier(verifierOptions());
  const headers = { "x-tokenkeep-edge": identity };
  const result = await authenticate(verifier, request, headers, { waitUntil: (p) => event.waitUntil(p) });
  if (result.response) return result.response;
  // The route handler sees who the middleware verified.
  const forwarded = new Headers(request.headers);
  forwarded.set("x-verified-sub", result.claims.sub);
  const response = NextResponse.next({ request: { headers: forwarded } });
  response.headers.set("x-tokenkeep-edge", identity);
  return response;
}

export const config = { matcher: "/api/:path*" };
