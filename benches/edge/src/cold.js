// A cold isolate's first verification (workerd): tokenkeep with and without
// the persistent key cache, jose with a remote JWKS, @cfworker/jwt.
import { Verifier } from "tokenkeep";
import { jwtVerify, createRemoteJWKSet } from "jose";
import { parseJwt } from "@cfworker/jwt";

let verifier;
let remote;

export default {
  async fetch(request, env, ctx) {
    const lib = new URL(request.url).searchParams.get("lib");
    const token = request.headers.get("authorization").slice(7);
    if (lib === "tokenkeep" || lib === "tokenkeep_nocache") {
      verifier ??= new Verifier(
        { issuer: env.ISSUER, audience: env.AUDIENCE, jwksUrl: env.JWKS_URL },
        lib === "tokenkeep" ? {} : { keyCache: false },
      );
      await verifier.verify(token, { waitUntil: (p) => ctx.waitUntil(p) });
    } else if (lib === "jose") {
      remote ??= createRemoteJWKSet(new URL(env.JWKS_URL));
      await jwtVerify(token, remote, { issuer: env.ISSUER, audience: env.AUDIENCE });
    } else if (lib === "cfworker") {
      const result = await parseJwt({ jwt: token, issuer: env.ISSUER, audience: env.AUDIENCE });
      if (!result.valid) throw new Error(result.reason);
    }
    return new Response("ok");
  },
};
