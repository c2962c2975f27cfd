import { run } from "./bench.js";

export default { fetch: (request, env) => run(request, env) };
