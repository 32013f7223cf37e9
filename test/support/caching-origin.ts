/**
 * The headers the caching origin (started by global-setup.ts) sends with every page: every
 * shared-cache directive and validator an origin might send. The caching tests check that none of
 * them survives on a personalized page, so the list they check is this one, not a copy.
 */
export const CACHING_ORIGIN_HEADERS: Readonly<Record<string, string>> = {
  "cache-control": "public, max-age=600, s-maxage=3600, stale-while-revalidate=60",
  "cdn-cache-control": "max-age=3600",
  "cloudflare-cdn-cache-control": "max-age=3600",
  "surrogate-control": "max-age=3600",
  "surrogate-key": "homepage",
  "cache-tag": "homepage",
  expires: "Thu, 01 Jan 2099 00:00:00 GMT",
  etag: '"page-v1"',
  "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT",
  age: "42",
  "content-md5": "Q2hlY2sgSW50ZWdyaXR5IQ==",
  digest: "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
  pragma: "public",
};
