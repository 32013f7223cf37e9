// Peer for the page benchmark: Optimizely Edge Delivery (@optimizely/edge-delivery) in its
// edge-snippet mode (`useEdgeDeliverySnippet`): decisions and HTMLRewriter changes at the edge, the
// experiment results inlined in the page and the Edge Delivery snippet referenced by a <script src>
// for the browser to load. The datafile (one experiment whose only variation sets the three slots'
// HTML) comes as the DATA binding instead of Optimizely's CDN or KV. The page is fetched from the
// local demo shop and handed over as `control`, the package's option for Workers in front of
// another origin.
import { applyExperiments } from "@optimizely/edge-delivery";

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const control = await fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), { headers: request.headers });
    // The package derives its cookies' domain from the page's host name and refuses an IP address,
    // which is what the benchmark's load generator calls; in production it sees the shop's domain.
    const page = new Request(new URL(url.pathname + url.search, env.PAGE_ORIGIN), request);
    return applyExperiments(page, ctx, {
      environment: "prod",
      accountId: Number(env.OPTIMIZELY_ACCOUNT_ID),
      snippetId: env.OPTIMIZELY_SNIPPET_ID,
      // A fresh copy per page, as the package itself makes of a datafile it caches (it adds the
      // page's decisions to the datafile's queue in place).
      DATA: structuredClone(env.OPTIMIZELY_DATA),
      useEdgeDeliverySnippet: true,
      control,
    });
  },
};
