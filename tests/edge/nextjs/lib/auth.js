// What the middleware (edge, wasm build) and the route handler (Node, native
// addon) answer: both verifiers' `authenticate`, so the token's parsing, the
// status and the challenge are the runtime's; this only turns its answer
// into a Response.

/** The verifier's options: the issuer the test starts on 127.0.0.1. */
export function verifierOptions() {
  // A short miss cooldown: after the IdP's outage the test waits for keys.
  return {
    issuer: process.env.TOKENKEEP_ISSUER,
    jwksUrl: process.env.TOKENKEEP_JWKS_URL,
    audience: "api://edge",
    cache: { missCooldown: 1, requestTimeout: 2 },
  };
}

/** `{ claims }`, or the Response to send. Errors that are not a token's are thrown. */
export async function authenticate(verifier, request, headers, options) {
  const result = await verifier.authenticate(request.headers.get("authorization"), options);
  if (result.ok) return { claims: result.claims };
  const h = new Headers({ ...headers, ...result.headers });
  return { response: new Response(JSON.stringify(result.body), { status: result.status, headers: h }) };
}
