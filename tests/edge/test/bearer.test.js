// Every case of tests/vectors/bearer.json through the edge Verifier's
// `authenticate` (the wasm build loaded by Node), with tokens the dev issuer
// mints: signatures checked by WebCrypto (both builds) and inside the module
// (`tokenkeep/full`), and each
// case asked twice so the second answer comes from the verified-token cache.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as slim from "tokenkeep/wasm";
import { Verifier, isTokenkeepError } from "tokenkeep/wasm";
import * as full from "tokenkeep/full";
import { repo, startIssuer } from "./support.js";

const AUD = "api://edge";
const { cases } = JSON.parse(readFileSync(`${repo}tests/vectors/bearer.json`, "utf8"));
const codes = JSON.parse(readFileSync(`${repo}tests/vectors/codes.json`, "utf8")).concerns;
let idp;

before(async () => {
  idp = await startIssuer();
});

after(() => idp.stop());

/** An answer in the vectors' form. */
function answer(result) {
  if (result.ok) return { status: 200, scopes: result.scopes };
  const { status, headers, body } = result;
  // Every refusal's error is a listed code (tests/vectors/codes.json).
  assert.ok([...codes.rejection.codes, ...codes.denial.codes].includes(body.error), body.error);
  const retry = headers["retry-after"];
  return { status, error: body.error, www_authenticate: headers["www-authenticate"] ?? null, retry_after: retry === undefined ? null : Number(retry) };
}

for (const [build, { Verifier }, signatures] of [
  ["tokenkeep/wasm", slim, "webcrypto"],
  ["tokenkeep/full", full, "wasm"],
]) {
  test(`every case of bearer.json gets its answer from the edge authenticate (${build}, ${signatures})`, async () => {
    const verifier = new Verifier({ issuer: idp.issuer, audience: AUD }, { signatures, keyCache: false });
    assert.equal(await verifier.ready(10_000), true);
    assert.ok(cases.length >= 20);
    for (const c of cases) {
      const token = await idp.mint({ sub: "alice", aud: AUD, ...c.claims });
      const authorization = c.authorization === null ? undefined : c.authorization.replace("{token}", token);
      for (const round of ["first", "again (verified-token cache)"]) {
        const result = await verifier.authenticate(authorization, { scopes: c.required, realm: c.realm });
        assert.deepEqual(answer(result), c.expect, `${c.name}, ${round}`);
        if (result.ok) assert.equal(result.claims.sub, "alice", c.name);
        else assert.ok(!JSON.stringify(result).includes(token), `${c.name}: a denial never holds the token`);
      }
    }
  });
}

test("a token first verified by verify() is authenticated from the cache with its scopes", async () => {
  const verifier = new Verifier({ issuer: idp.issuer, audience: AUD }, { keyCache: false });
  const token = await idp.mint({ sub: "alice", aud: AUD, scp: ["orders:read", "orders:write"] });
  const claims = await verifier.verify(token);
  const granted = await verifier.authenticate(`Bearer ${token}`, { scopes: ["orders:write"] });
  assert.equal(granted.claims, claims, "the cached claims object");
  assert.deepEqual(granted.scopes, ["orders:read", "orders:write"]);
  const refused = await verifier.authenticate(`Bearer ${token}`, { scopes: ["admin"], realm: "api" });
  assert.deepEqual([refused.status, refused.headers["www-authenticate"]], [403, 'Bearer realm="api", error="insufficient_scope", scope="admin"']);
});

test("keys nobody can fetch: 503 keys_unavailable with Retry-After and no challenge", async () => {
  const fetch = async () => {
    throw new TypeError("connection refused");
  };
  const verifier = new Verifier({ issuer: idp.issuer, audience: AUD }, { fetch, keyCache: false });
  const token = await idp.mint({ sub: "alice", aud: AUD });
  const result = await verifier.authenticate(`Bearer ${token}`, { scopes: ["orders:read"], realm: "api" });
  assert.deepEqual(answer(result), { status: 503, error: "keys_unavailable", www_authenticate: null, retry_after: 5 });
});

test("authenticate refuses arguments of the wrong type with invalid_type", async () => {
  const verifier = new Verifier({ issuer: idp.issuer, audience: AUD }, { keyCache: false });
  for (const [authorization, options] of [[42, undefined], ["Bearer x", { scopes: "a" }], ["Bearer x", { realm: 7 }]]) {
    await assert.rejects(verifier.authenticate(authorization, options), (e) => isTokenkeepError(e, "invalid_type"));
  }
  for (const none of [null, undefined]) assert.equal((await verifier.authenticate(none)).status, 401);
});
