// Baseline for the page benchmark: a Worker that only proxies the origin.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), { headers: request.headers });
  },
};
