// Shared by the edge tests: the one copy of the vectors and code lists, and
// the dev issuer (`tokenkeep dev-issuer`) on 127.0.0.1.
import { readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const repo = fileURLToPath(new URL("../../../", import.meta.url));

export function allVectors() {
  const files = ["valid.json", "rejections.json", "attacks.json", "keysets.json", "spiffe.json"];
  return files.flatMap((f) => JSON.parse(readFileSync(`${repo}tests/vectors/${f}`, "utf8")).vectors);
}

export const codes = Object.fromEntries(
  Object.entries(JSON.parse(readFileSync(`${repo}tests/vectors/codes.json`, "utf8")).concerns).map(([k, v]) => [k, v.codes]),
);

/** Starts `tokenkeep dev-issuer` on a free loopback port; `stop()` ends it. */
export async function startIssuer({ maxAge = "5m", algs = ["ES256"] } = {}) {
  const bin = process.env.TOKENKEEP_BIN ?? `${repo}target/debug/tokenkeep`;
  const args = ["--json", "dev-issuer", "--port", "0", "--jwks-max-age", maxAge, ...algs.flatMap((a) => ["--alg", a])];
  const child = spawn(bin, args, { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`dev-issuer exited with ${code}`)));
  });
  const info = JSON.parse(line);
  const base = info.issuer;
  const post = async (path, body) => {
    const r = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json().catch(() => ({}));
  };
  return {
    issuer: base,
    jwksUrl: info.jwks_uri,
    async mint(claims = {}, alg = "ES256", ttl = 600) {
      const { token } = await post("/token", { claims: { sub: "user-1", aud: "api://edge", ...claims }, alg, ttl });
      return token;
    },
    rotate: () => post("/rotate"),
    outage: (seconds, mode = "503") => post("/outage", { seconds, mode }),
    async stats() {
      return (await fetch(base + "/stats")).json();
    },
    /** Requests a verifier makes: discovery and JWKS. */
    async keyRequests() {
      const s = await this.stats();
      return (s.by_endpoint?.["/jwks"] ?? 0) + (s.by_endpoint?.["/.well-known/openid-configuration"] ?? 0);
    },
    async jwksRequests() {
      const s = await this.stats();
      return s.by_endpoint?.["/jwks"] ?? 0;
    },
    stop() {
      child.kill("SIGTERM");
      return new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

/**
 * Serves every vector's JWKS from 127.0.0.1 (`/v/<index>`) and turns each
 * vector into what a runtime verifies: the spec (keys fetched from that URL;
 * inline when the vector has HMAC secrets, which only static keys take).
 */
export async function vectorServer(vectors) {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    const v = vectors[Number(req.url.split("/")[2])];
    res.writeHead(v ? 200 : 404, { "content-type": "application/json", "cache-control": "max-age=300" });
    res.end(v ? JSON.stringify(v.jwks) : "{}");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const requests = vectors.map((v, i) => {
    const spec = v.hmac_keys ? { jwks: v.jwks, hmac_keys: v.hmac_keys, policy: v.policy } : { jwks_url: `${base}/v/${i}`, policy: v.policy };
    return { name: v.name, body: { spec, token: v.token, now: v.now }, expect: v.expect.code !== undefined ? { code: v.expect.code } : { claims: v.expect.claims } };
  });
  return { requests, close: () => new Promise((resolve) => server.close(resolve)) };
}
