// edge-runtime entry (service-worker style, as Vercel's edge runtime runs it).
import { handle } from "./app.js";

addEventListener("fetch", (event) => {
  event.respondWith(handle(event.request, globalThis.TEST_ENV, (promise) => event.waitUntil(promise)));
});
