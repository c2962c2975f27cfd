import { run } from "./bench.js";

addEventListener("fetch", (event) => event.respondWith(run(event.request, globalThis.BENCH_ENV)));
