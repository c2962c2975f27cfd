// A Hono app on workerd with `tokenkeep/hono` (bundled by wrangler), against
// the dev issuer: 200 with the claims, 401 with its challenge, 403 for a
// missing scope, 503 with Retry-After when no key is usable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { repo, startIssuer } from "./support.js";

const workerDir = fileURLToPath(new URL("../hono-worker/", import.meta.url));
const exported = JSON.parse(readFileSync(`${repo}bindings-node/package.json`, "utf8")).exports["./hono"];

test("Hono on workerd with tokenkeep/hono", { skip: exported ? false : "tokenkeep/hono is not in the package yet (the Node build adds it)" }, async () => {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", `${workerDir}dist`], {
    cwd: workerDir,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const idp = await startIssuer({ maxAge: "5m" });
  const mf = new Miniflare({
    modules: true,
    scriptPath: `${workerDir}dist/index.js`,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-05-01",
    bindings: { ISSUER: idp.issuer },
  });
  const get = async (path, token) => {
    const r = await mf.dispatchFetch(`http://edge.test${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: r.status, challenge: r.headers.get("www-authenticate"), retryAfter: r.headers.get("retry-after"), body: await r.json() };
  };
  try {
    const ok = await get("/api/me", await idp.mint({ sub: "alice" }));
    assert.deepEqual([ok.status, ok.body], [200, { sub: "alice" }]);
    const none = await get("/api/me");
    assert.equal(none.status, 401);
    assert.match(none.challenge, /Bearer error="invalid_request"/);
    const expired = await get("/api/me", await idp.mint({ exp: 1_000_000 }));
    assert.equal(expired.status, 401);
    assert.match(expired.challenge, /error="invalid_token", error_description="expired"/);
    const scoped = await get("/admin/me", await idp.mint({ scope: "read" }));
    assert.equal(scoped.status, 403);
    assert.equal(scoped.challenge, 'Bearer realm="admin", error="insufficient_scope", scope="admin"');
    // A new verifier (the /admin guard builds one per request) with the IdP down: 503.
    await idp.outage(30, "503");
    const down = await get("/admin/me", await idp.mint({ scope: "admin" }));
    assert.deepEqual([down.status, down.body.error], [503, "keys_unavailable"]);
    assert.ok(down.retryAfter);
  } finally {
    await mf.dispose();
    await idp.stop();
  }
});
