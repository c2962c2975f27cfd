// Every shared vector through the wasm builds loaded directly by Node: the
// build `tokenkeep` gives workerd and edge-light (public-key signatures
// checked by WebCrypto only) and `tokenkeep/full`, once with signatures
// checked by WebCrypto and once inside the module (ring, curve25519-dalek):
// every path must give the same claims or the same code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { Verifier, TokenkeepError, isTokenkeepError, webCryptoFallbacks } from "tokenkeep/wasm";
import * as full from "tokenkeep/full";
import { allVectors, codes } from "./support.js";

const vectors = allVectors();
const HMAC = new Set(["HS256", "HS384", "HS512"]);
const algOf = (token) => {
  try {
    return JSON.parse(Buffer.from(token.split(".")[0], "base64url")).alg;
  } catch {
    return undefined;
  }
};

for (const [build, api, signatures] of [
  ["tokenkeep/wasm", { Verifier, webCryptoFallbacks }, "webcrypto"],
  ["tokenkeep/full", full, "webcrypto"],
  ["tokenkeep/full", full, "wasm"],
]) {
  test(`every shared vector verifies as expected (${build}, ${signatures})`, async () => {
    const inModule = build === "tokenkeep/full";
    let passed = 0;
    let refusedSync = 0;
    for (const v of vectors) {
      const options = { policy: v.policy, hmac_keys: v.hmac_keys };
      const verifier = api.Verifier.fromJwks(v.jwks, options, { signatures });
      const outcomes = [];
      for (const run of [() => verifier.verifySync(v.token, { now: v.now }), () => verifier.verify(v.token, { now: v.now })]) {
        try {
          outcomes.push({ claims: { ...(await run()) } });
        } catch (error) {
          assert.ok(isTokenkeepError(error), `${v.name}: ${error}`);
          outcomes.push({ code: error.code });
        }
      }
      const expected = v.expect.code !== undefined ? { code: v.expect.code } : { claims: v.expect.claims };
      assert.deepEqual(outcomes[1], expected, `${v.name} (verify)`);
      if (inModule || outcomes[0].code !== "unsupported_alg" || expected.code === "unsupported_alg") {
        assert.deepEqual(outcomes[0], expected, `${v.name} (verifySync)`);
      } else {
        // Without in-module checks verifySync cannot check a public-key
        // signature: only such a token is refused this way.
        assert.ok(!HMAC.has(algOf(v.token)), `${v.name}: an HMAC token is checked inside every build`);
        refusedSync++;
      }
      passed++;
    }
    assert.equal(passed, vectors.length);
    if (!inModule) assert.ok(refusedSync > 0, "verifySync refused the public-key tokens it cannot check");
    console.log(
      `# node ${build} ${signatures}: ${passed} vectors passed (${refusedSync} refused by verifySync); WebCrypto lacks: ${JSON.stringify(api.webCryptoFallbacks())}`,
    );
  });
}

test("the build without in-module checks refuses signatures: \"wasm\" and answers verifySync from the verified-token cache", async () => {
  const v = vectors.find((x) => x.name === "valid_rs256");
  assert.throws(() => Verifier.fromJwks(v.jwks, { policy: v.policy }, { signatures: "wasm" }), (e) => {
    assert.equal(e.code, "invalid_value");
    assert.match(e.message, /tokenkeep\/full/);
    return true;
  });
  const verifier = Verifier.fromJwks(v.jwks, { policy: v.policy });
  assert.throws(() => verifier.verifySync(v.token, { now: v.now }), { code: "unsupported_alg" });
  const claims = await verifier.verify(v.token, { now: v.now });
  assert.equal(verifier.verifySync(v.token, { now: v.now }), claims);
  const sync = full.Verifier.fromJwks(v.jwks, { policy: v.policy });
  assert.deepEqual({ ...sync.verifySync(v.token, { now: v.now }) }, { ...claims });
});

test("a verified-token cache hit returns the same frozen claims; time rules still apply", async () => {
  const v = vectors.find((x) => x.name === "valid_es256");
  const verifier = Verifier.fromJwks(v.jwks, { policy: v.policy });
  const first = await verifier.verify(v.token, { now: v.now });
  const second = await verifier.verify(v.token, { now: v.now });
  assert.equal(first, second);
  assert.ok(Object.isFrozen(first));
  assert.equal(verifier.verifySync(v.token, { now: v.now }), first);
  await assert.rejects(verifier.verify(v.token, { now: v.expect.claims.exp + 3600 }), { code: "expired" });
});

test("rejections carry the code, its HTTP status and a message without the token", async () => {
  const v = vectors.find((x) => x.name === "valid_rs256");
  const verifier = Verifier.fromJwks(v.jwks, { policy: v.policy });
  const tampered = v.token.slice(0, -4) + (v.token.endsWith("AAAA") ? "BBBB" : "AAAA");
  for (const [token, code] of [["", "missing_token"], ["a.b", "malformed"], [tampered, "invalid_signature"]]) {
    const error = await verifier.verify(token, { now: v.now }).catch((e) => e);
    assert.ok(error instanceof TokenkeepError);
    assert.equal(error.code, code);
    assert.equal(error.httpStatus, 401);
    assert.ok(!token || !error.message.includes(token));
  }
});

test("options are the spec's: errors name the field path and a spec code", () => {
  const cases = [
    [{ isuer: "x" }, "isuer", "unknown_field"],
    [{ audience: "a" }, "issuer", "missing_field"],
    [{ issuer: "https://i.example", jwksUrl: "http://idp.example/jwks" }, "jwks_url", "insecure_url"],
    [{ issuer: "https://i.example", cache: { ttl: "1s" } }, "cache.ttl", "out_of_range"],
    [{ issuer: "https://i.example", http: { ca_file: "/etc/ca.pem" } }, "http.ca_file", "invalid_value"],
  ];
  for (const [options, path, code] of cases) {
    const error = (() => {
      try {
        new Verifier(options);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(isTokenkeepError(error), JSON.stringify(options));
    assert.deepEqual([error.path, error.code], [path, code], error.message);
    assert.ok(codes.spec.includes(error.code));
  }
});

test("every code the edge build gives is in codes.json", () => {
  const produced = new Set(vectors.filter((v) => v.expect.code).map((v) => v.expect.code));
  assert.deepEqual([...produced].sort(), [...codes.rejection].sort(), "the vectors cover every rejection code");
  for (const code of ["internal_error"]) assert.ok(codes.host.includes(code));
  for (const code of ["invalid_type", "invalid_value"]) assert.ok(codes.spec.includes(code));
});

test("a panic inside the module surfaces as internal_error and the verifier goes on", async () => {
  const v = vectors.find((x) => x.name === "valid_eddsa") ?? vectors[0];
  const verifier = Verifier.fromJwks(v.jwks, { policy: v.policy });
  assert.throws(() => verifier._debugPanic(), (e) => isTokenkeepError(e) && e.code === "internal_error");
  const claims = await verifier.verify(v.token, { now: v.now });
  assert.equal(claims.sub, v.expect.claims.sub);
});

test("no secret in errors, inspect or JSON of a verifier", async () => {
  const v = vectors.find((x) => x.hmac_keys);
  const verifier = Verifier.fromJwks(v.jwks, { policy: v.policy, hmac_keys: v.hmac_keys });
  const secret = v.hmac_keys[0].k;
  const texts = [inspect(verifier, { depth: 5, showHidden: true }), JSON.stringify(verifier), String(verifier)];
  const bad = await verifier.verify(v.token.slice(0, -3) + "abc", { now: v.now }).catch((e) => e);
  texts.push(bad.message, inspect(bad));
  for (const text of texts) {
    assert.ok(!text.includes(secret), text);
    assert.ok(!text.includes(v.token), text);
  }
});

test("HTTP goes through the injected fetch; concurrent cold requests share one fetch", async () => {
  const v = vectors.find((x) => x.name === "valid_es256");
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    await new Promise((r) => setTimeout(r, 30));
    return new Response(JSON.stringify(v.jwks), { headers: { "cache-control": "max-age=300", etag: '"1"' } });
  };
  const verifier = new Verifier({ jwksUrl: "https://keys.example/jwks", policy: v.policy }, { fetch, keyCache: false });
  const results = await Promise.all(Array.from({ length: 5 }, () => verifier.verify(v.token, { now: v.now })));
  assert.equal(results.length, 5);
  assert.equal(calls.length, 1, "one fetch for five concurrent requests");
  assert.equal(calls[0].url, "https://keys.example/jwks");
  assert.equal(calls[0].init.redirect, "manual");
  const [health] = verifier.health();
  assert.equal(health.cache.state, "fresh");
  assert.equal(health.cache.keyCount, 1);
});

test("an injected fetch that fails is a 503 keys_unavailable, never a 401", async () => {
  const v = vectors.find((x) => x.name === "valid_es256");
  const fetch = async () => {
    throw new TypeError("connection refused");
  };
  const verifier = new Verifier({ jwksUrl: "https://keys.example/jwks", policy: v.policy }, { fetch, keyCache: false });
  const error = await verifier.verify(v.token, { now: v.now }).catch((e) => e);
  assert.deepEqual([error.code, error.httpStatus], ["keys_unavailable", 503]);
  assert.equal(verifier.health()[0].cache.lastErrorCode, "connect");
});

test("an algorithm this runtime's WebCrypto lacks: checked inside tokenkeep/full, refused as unsupported_alg without in-module checks", async () => {
  const { generateKeyPairSync, sign } = await import("node:crypto");
  // A key no earlier test imported, so WebCrypto is asked for it here.
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "lacking", alg: "EdDSA", use: "sig" };
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "EdDSA", kid: "lacking", typ: "JWT" })}.${b64({ iss: "https://lacking.example", aud: "api", sub: "s", exp: now + 600 })}`;
  const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString("base64url")}`;
  const options = { issuer: "https://lacking.example", audience: "api" };
  const subtle = globalThis.crypto.subtle;
  const importKey = subtle.importKey;
  subtle.importKey = function (format, keyData, algorithm, ...rest) {
    if ((algorithm?.name ?? algorithm) === "Ed25519") return Promise.reject(new DOMException("not here", "NotSupportedError"));
    return importKey.call(this, format, keyData, algorithm, ...rest);
  };
  try {
    const slim = Verifier.fromJwks({ keys: [jwk] }, options);
    await assert.rejects(slim.verify(token), (e) => {
      assert.equal(e.code, "unsupported_alg");
      assert.equal(e.httpStatus, 401);
      return true;
    });
    assert.deepEqual(webCryptoFallbacks(), ["EdDSA"]);
    const withChecks = full.Verifier.fromJwks({ keys: [jwk] }, options);
    assert.equal((await withChecks.verify(token)).sub, "s");
    assert.deepEqual(full.webCryptoFallbacks(), ["EdDSA"]);
  } finally {
    delete subtle.importKey;
    if (subtle.importKey !== importKey) subtle.importKey = importKey;
  }
});
