// What the middleware (edge) and the route handler (Node) answer, from the
// package's public API only: the status is the runtime's (`err.httpStatus`:
// 503 `keys_unavailable`, else 401), the challenge RFC 6750's.

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

function bearer(authorization) {
  const [scheme, token] = (authorization ?? "").split(" ", 2);
  return scheme?.toLowerCase() === "bearer" ? (token ?? "").trim() : "";
}

/** `{ claims }`, or the Response to send. Errors that are not a token's are thrown. */
export async function authenticate(tokenkeep, verifier, request, headers, verifyOptions) {
  try {
    return { claims: await verifier.verify(bearer(request.headers.get("authorization")), verifyOptions) };
  } catch (err) {
    if (!tokenkeep.isTokenkeepError(err) || err.httpStatus === undefined) throw err;
    const h = new Headers({ ...headers, "content-type": "application/json" });
    if (err.httpStatus === 503) h.set("retry-after", "5");
    else if (err.code === "missing_token") h.set("www-authenticate", 'Bearer error="invalid_request"');
    else h.set("www-authenticate", `Bearer error="invalid_token", error_description="${err.code}"`);
    return { response: new Response(JSON.stringify({ error: err.code }), { status: err.httpStatus, headers: h }) };
  }
}
