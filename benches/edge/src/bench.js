// The benchmark inside an edge runtime: one request runs `n` verifications
// of one token with one library; the harness (run.js) times requests from
// outside, because workerd's clock stands still while a request computes.
import { Verifier } from "tokenkeep";
import { jwtVerify, createLocalJWKSet } from "jose";
import { parseJwt } from "@cfworker/jwt";

let state;

function setup(env) {
  if (state) return state;
  const bench = typeof env.BENCH === "string" ? JSON.parse(env.BENCH) : env.BENCH;
  const { issuer, audience } = bench;
  state = { issuer, audience, cases: {} };
  for (const [alg, c] of Object.entries(bench.cases)) {
    const kid = c.jwks.keys[0].kid;
    state.cases[alg] = {
      token: c.token,
      // verify: the verified-token cache off, so every call checks the signature.
      tokenkeep: Verifier.fromJwks(c.jwks, { issuer, audience, cache: { verified_tokens: 0 } }),
      tokenkeepHit: Verifier.fromJwks(c.jwks, { issuer, audience }),
      jose: createLocalJWKSet(c.jwks),
      cfworkerKey: alg.startsWith("RS")
        ? crypto.subtle.importKey("jwk", c.jwks.keys[0], { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"])
        : null,
      kid,
    };
  }
  return state;
}

const libraries = {
  async tokenkeep(c) {
    await c.tokenkeep.verify(c.token);
  },
  async tokenkeep_hit(c) {
    await c.tokenkeepHit.verify(c.token);
  },
  async jose(c, s) {
    await jwtVerify(c.token, c.jose, { issuer: s.issuer, audience: s.audience });
  },
  async cfworker(c, s) {
    const key = await c.cfworkerKey;
    const result = await parseJwt({ jwt: c.token, issuer: s.issuer, audience: s.audience, resolveKey: async () => key });
    if (!result.valid) throw new Error(result.reason);
  },
};

export async function run(request, env) {
  const url = new URL(request.url);
  const s = setup(env);
  const lib = libraries[url.searchParams.get("lib")];
  const c = s.cases[url.searchParams.get("alg")];
  const n = Number(url.searchParams.get("n") ?? "0");
  if (!lib || !c || (url.searchParams.get("lib") === "cfworker" && !c.cfworkerKey)) {
    return new Response("unsupported", { status: 404 });
  }
  for (let i = 0; i < n; i++) await lib(c, s);
  return new Response("ok");
}
