// The flows every edge runtime must pass, written once against an `isolate`
// (a fresh instance of the runtime running the test app) and the dev issuer.
import assert from "node:assert/strict";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, check, rounds = 200) {
  for (let i = 0; i < rounds; i++) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`gave up waiting for ${what}`);
}

export const flows = {
  // Every algorithm the dev issuer signs with verifies; a 401 names its code.
  async "tokens verify and rejections are 401 with their code"({ idp, isolate }) {
    const edge = await isolate();
    try {
      for (const alg of ["ES256", "RS256", "EdDSA"]) {
        const r = await edge.call("/verify", await idp.mint({}, alg));
        assert.deepEqual([r.status, r.body], [200, { ok: true, sub: "user-1" }], alg);
      }
      const expired = await edge.call("/verify", await idp.mint({ exp: 1_000_000 }));
      assert.deepEqual([expired.status, expired.body.code], [401, "expired"]);
      assert.match(expired.header, /error_description="expired"/);
      const missing = await edge.call("/verify");
      assert.deepEqual([missing.status, missing.body.code], [401, "missing_token"]);
      assert.equal(missing.header, 'Bearer error="invalid_request"');
    } finally {
      await edge.dispose();
    }
  },

  // Keys rotate while tokens of both keys arrive: none is wrongly rejected.
  async "rotation: 0 wrongful rejections"({ idp, isolate }) {
    const edge = await isolate();
    try {
      const rejected = [];
      let verified = 0;
      const old = [];
      for (let round = 0; round < 6; round++) {
        const fresh = await idp.mint({ sub: `user-${round}` });
        for (const token of [fresh, ...old.slice(-2)]) {
          const r = await edge.call("/verify", token);
          if (r.status === 200) verified++;
          else rejected.push(r.body.code);
        }
        old.push(fresh);
        await idp.rotate();
        // IdPs rotate minutes apart; the test's miss cooldown is 1 s.
        await sleep(1100);
      }
      assert.deepEqual(rejected, [], "wrongful rejections");
      console.log(`# rotation: ${verified} verified, 0 rejected, ${await idp.jwksRequests()} JWKS requests`);
    } finally {
      await edge.dispose();
    }
  },

  // The IdP answers 503 past the keys' fresh TTL: tokens keep verifying from
  // the stale keys, and a token with no usable key at all is a 503.
  async "outage: served from the cache, 503 only without usable keys"({ idp, isolate }) {
    const edge = await isolate();
    const cold = await isolate({}, undefined);
    try {
      const token = await idp.mint();
      assert.equal((await edge.call("/verify", token)).status, 200);
      await idp.outage(6, "503");
      await sleep(2500); // past the 2 s fresh TTL
      const during = await edge.call("/verify", token);
      assert.deepEqual([during.status, during.body.ok], [200, true]);
      const [health] = (await edge.call("/health")).body;
      assert.equal(health.cache.state, "stale");
      // A new isolate without a persistent cache entry has nothing usable: 503.
      const nothing = await cold.call("/verify", token);
      assert.deepEqual([nothing.status, nothing.body.code], [503, "keys_unavailable"]);
    } finally {
      await edge.dispose();
      await cold.dispose();
    }
  },

  // A refresh that is due runs in waitUntil: the request that found it due
  // is answered while the IdP hangs, and the fetch is seen by the IdP.
  async "a due refresh runs through waitUntil, never in the request"({ idp, isolate }) {
    const edge = await isolate();
    try {
      const token = await idp.mint();
      assert.equal((await edge.call("/verify", token)).status, 200);
      const before = await idp.jwksRequests();
      await sleep(2200); // the refresh is due (80% ± 10% of 2 s) and the keys are stale
      await idp.outage(30, "hang");
      const r = await edge.call("/verify", token);
      assert.equal(r.status, 200);
      const [health] = (await edge.call("/health")).body;
      // Had the request waited for the refresh, the hung fetch would have
      // timed out and counted as a failure by now.
      assert.equal(health.cache.consecutiveFailures, 0);
      await until("the refresh to reach the IdP", async () => (await idp.jwksRequests()) > before);
      await until("the hung refresh to time out", async () => (await edge.call("/health")).body[0].cache.consecutiveFailures > 0);
      assert.equal((await edge.call("/verify", token)).status, 200, "stale keys still serve");
    } finally {
      await edge.dispose();
    }
  },

  // A second isolate starts from the key set the first stored in the Cache
  // API: not a single request to the IdP (discovery or JWKS).
  async "a second isolate verifies with 0 requests to the IdP"({ idp, isolate, cacheDir }) {
    const dir = cacheDir();
    const first = await isolate({}, dir);
    const token = await idp.mint();
    try {
      assert.equal((await first.call("/verify", token)).status, 200);
      const key = `https://tokenkeep.invalid/jwks/v1?source=${encodeURIComponent(idp.issuer)}`;
      await until("the key set to be stored", async () => (await first.call(`/persisted?key=${encodeURIComponent(key)}`)).body.present);
    } finally {
      await first.dispose();
    }
    const before = await idp.keyRequests();
    const second = await isolate({}, dir);
    try {
      const r = await second.call("/verify", token);
      assert.deepEqual([r.status, r.body.ok], [200, true]);
      const after = await idp.keyRequests();
      assert.equal(after - before, 0, "IdP requests made by the second isolate");
      console.log("# second isolate: 0 IdP requests");
    } finally {
      await second.dispose();
    }
    // With the persistent cache switched off, a new isolate asks the IdP.
    const off = await isolate({ KEY_CACHE: "off" }, dir);
    try {
      const r = await off.call("/verify", token);
      assert.equal(r.status, 200);
      assert.ok((await idp.keyRequests()) - before > 0, "keyCache: false reads nothing from the Cache API");
    } finally {
      await off.dispose();
    }
  },
};
