// The same Node handler outside the middleware's matcher: its own 401 and 503.
export { GET } from "../../../lib/node-route.js";
export const runtime = "nodejs";
export const dynamic = "force-dynamic";
