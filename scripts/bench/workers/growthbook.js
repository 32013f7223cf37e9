// Peer for the page benchmark: GrowthBook's edge app for Cloudflare (@growthbook/edge-cloudflare),
// configured through its own environment variables (GROWTHBOOK_API_HOST and GROWTHBOOK_CLIENT_KEY,
// PROXY_TARGET, RUN_VISUAL_EDITOR_EXPERIMENTS=edge). The API host is a local stand-in started by the
// benchmark that serves one visual-editor experiment; the SDK caches it in memory as it would
// GrowthBook's CDN. Everything else is the package's default per-page work: read the `gbuuid`
// visitor cookie, evaluate the experiment, fetch the page, parse it into a DOM, apply the
// mutations, serialize it and inject the browser SDK with the visitor's assignment.
import { handleRequest } from "@growthbook/edge-cloudflare";

export default {
  async fetch(request, env) {
    return handleRequest(request, env);
  },
};
