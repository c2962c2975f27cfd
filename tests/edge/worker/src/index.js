// workerd entry (module worker).
import { handle } from "./app.js";

export default {
  fetch(request, env, ctx) {
    return handle(request, env, (promise) => ctx.waitUntil(promise));
  },
};
