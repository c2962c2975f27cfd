// Behind the edge middleware: /api/me is verified twice (edge, then Node).
export { GET } from "../../../lib/node-route.js";
export const runtime = "nodejs";
export const dynamic = "force-dynamic";
