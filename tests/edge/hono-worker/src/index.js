// A Hono app on workerd guarded by the package's Hono middleware
// (`tokenkeep/hono`, over the Verifier's `authenticate`), with the
// Verifier the workerd condition picks: the wasm build.
import { Hono } from "hono";
import { Verifier } from "tokenkeep";
import { jwtAuth } from "tokenkeep/hono";

let guard;
const app = new Hono();

app.use("/api/*", (c, next) => {
  guard ??= jwtAuth(new Verifier({ issuer: c.env.ISSUER, audience: "api://edge", cache: { miss_cooldown: 1 } }));
  return guard(c, next);
});
app.use("/admin/*", (c, next) =>
  jwtAuth(new Verifier({ issuer: c.env.ISSUER, audience: "api://edge" }, { keyCache: false }), { scopes: ["admin"], realm: "admin" })(c, next),
);
app.get("/api/me", (c) => c.json({ sub: c.get("auth").sub }));
app.get("/admin/me", (c) => c.json({ sub: c.get("auth").sub }));

export default app;
