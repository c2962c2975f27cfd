// A real Next.js 16 app (tests/edge/nextjs): `next build` once, then
// `next start` on 127.0.0.1, called over HTTP. middleware.js guards /api/* on
// the edge runtime with tokenkeep's wasm build; the route handler runs on the
// Node runtime with the native addon; both import `tokenkeep` by name. The
// package is installed the way a user gets it: `npm pack` of bindings-node
// unpacked into the app's node_modules (a symlinked package outside
// node_modules would be bundled as app code, `.node` file and all).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { codes, repo, startIssuer } from "./support.js";

const app = fileURLToPath(new URL("../nextjs/", import.meta.url));
const next = fileURLToPath(new URL("../node_modules/next/dist/bin/next", import.meta.url));
const addon = `${repo}bindings-node/native/tokenkeep.linux-x64-gnu.node`;

let idp;
let server;
let base;
let serverLog = "";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function installPackage() {
  assert.ok(existsSync(addon), `${addon} is missing: build the addon (make test-edge does, or make build-all)`);
  const scratch = mkdtempSync(`${tmpdir()}/tokenkeep-next-`);
  try {
    const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", scratch], { cwd: `${repo}bindings-node`, encoding: "utf8" }).trim();
    const dest = `${app}node_modules/tokenkeep`;
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    execFileSync("tar", ["-xzf", `${scratch}/${name}`, "-C", dest, "--strip-components=1"]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

before(async () => {
  idp = await startIssuer({ algs: ["ES256"] });
  const env = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: "1",
    TOKENKEEP_ISSUER: idp.issuer,
    TOKENKEEP_JWKS_URL: idp.jwksUrl,
  };
  installPackage();
  rmSync(`${app}.next`, { recursive: true, force: true });
  execFileSync(process.execPath, [next, "build"], { cwd: app, env, stdio: ["ignore", "ignore", "inherit"] });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // Its own process group, so the test ends next start and whatever it spawned.
  server = spawn(process.execPath, [next, "start", "-H", "127.0.0.1", "-p", String(port)], {
    cwd: app,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    process.kill(-server.pid, "SIGTERM");
    await exited;
  }
  await idp?.stop();
});

/** Waits until `next start` answers anything (a 404 will do). */
async function listening() {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await fetch(`${base}/`);
      return;
    } catch (err) {
      if (server.exitCode !== null) throw new Error(`next start exited (${server.exitCode}):\n${serverLog}`);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function call(path, token) {
  const response = await fetch(base + path, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const body = await response.json().catch(() => undefined);
  if (response.status >= 500 && response.status !== 503) throw new Error(`${path}: ${response.status}; next start printed:\n${serverLog}`);
  const h = (name) => response.headers.get(name);
  return {
    status: response.status,
    body,
    challenge: h("www-authenticate"),
    retryAfter: h("retry-after"),
    edge: h("x-tokenkeep-edge"),
    node: h("x-tokenkeep-node"),
  };
}

test("Next.js 16: edge middleware (wasm) and Node route handler (native addon): 503 in an outage with no keys, then 200 and 401", async () => {
  const good = await idp.mint({ sub: "user-next" });
  // The same token with another signature: a rejection, not an outage.
  const [h, p] = good.split(".");
  const forged = `${h}.${p}.${(await idp.mint({ sub: "someone-else" })).split(".")[2]}`;

  // The IdP is down before the app ever saw a key: nothing usable, so 503.
  await idp.outage(600, "503");
  await listening();
  const down = await call("/api/me", good);
  assert.equal(down.status, 503, JSON.stringify(down));
  assert.deepEqual(down.body, { error: "keys_unavailable" });
  assert.equal(down.retryAfter, "5");
  assert.equal(down.edge, "edge wasm", "the middleware answered, on the edge runtime, with the wasm build");
  assert.equal(down.node, null, "the route handler was not reached");
  const downNode = await call("/node/me", good);
  assert.equal(downNode.status, 503, JSON.stringify(downNode));
  assert.deepEqual(downNode.body, { error: "keys_unavailable" });
  assert.equal(downNode.node, "nodejs native", "the route handler answered, on the Node runtime, with the native addon");
  assert.equal(downNode.edge, null, "the middleware does not run outside /api");
  const refused = await idp.stats();
  assert.ok(refused.by_endpoint["/jwks"] >= 2, `both verifiers asked the IdP: ${JSON.stringify(refused.by_endpoint)}`);

  // The IdP is back: once the miss cooldown (1 s) has passed, keys load on the next request.
  await idp.outage(0);
  let ok;
  const deadline = Date.now() + 30_000;
  do {
    await new Promise((r) => setTimeout(r, 500));
    ok = await call("/api/me", good);
  } while (ok.status === 503 && Date.now() < deadline);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  assert.deepEqual(ok.body, { sub: "user-next", edgeVerified: "user-next" }, "verified at the edge, then again on Node");
  assert.equal(ok.edge, "edge wasm");
  assert.equal(ok.node, "nodejs native");

  // A forged signature: 401 from the middleware, with its challenge.
  const bad = await call("/api/me", forged);
  assert.equal(bad.status, 401, JSON.stringify(bad));
  assert.deepEqual(bad.body, { error: "invalid_signature" });
  assert.ok(codes.rejection.includes(bad.body.error));
  assert.equal(bad.challenge, `Bearer error="invalid_token", error_description="${bad.body.error}"`);
  assert.equal(bad.edge, "edge wasm");
  assert.equal(bad.node, null);

  // No token at all.
  const missing = await call("/api/me");
  assert.equal(missing.status, 401);
  assert.deepEqual(missing.body, { error: "missing_token" });
  assert.equal(missing.challenge, 'Bearer error="invalid_request"');

  // The Node route handler's own answers (outside the middleware's matcher).
  const nodeOk = await call("/node/me", good);
  assert.equal(nodeOk.status, 200, JSON.stringify(nodeOk));
  assert.deepEqual(nodeOk.body, { sub: "user-next", edgeVerified: null });
  assert.equal(nodeOk.node, "nodejs native");
  const nodeBad = await call("/node/me", forged);
  assert.equal(nodeBad.status, 401, JSON.stringify(nodeBad));
  assert.equal(nodeBad.body.error, bad.body.error, "both builds name the rejection alike");
  assert.equal(nodeBad.challenge, bad.challenge);
  assert.equal(nodeBad.node, "nodejs native");
  const nodeMissing = await call("/node/me");
  assert.equal(nodeMissing.status, 401);
  assert.deepEqual(nodeMissing.body, { error: "missing_token" });
  assert.equal(nodeMissing.challenge, 'Bearer error="invalid_request"');
});
