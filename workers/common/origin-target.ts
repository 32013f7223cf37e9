/**
 * Where a request goes on the origin. The target is the origin's URL with the request's path and
 * query set on it, never a URL resolved from the request's path: `new URL("//evil.example/x", origin)`
 * is another host, and so is any path that the URL parser reads as one (backslashes, tabs inside
 * `//`, `/..//`). Setting `pathname` on a URL that already has a host cannot change the host. Used by
 * the page proxy and by the admin preview, which both contact only the origin.
 * @module
 */

/** The origin's URL with `pathname` and `search` set on it: always the origin's own scheme, host and port. */
export function originTarget(originUrl: string, pathname: string, search: string): URL {
  const target = new URL(originUrl);
  target.pathname = pathname;
  target.search = search;
  target.hash = "";
  return target;
}

/** The origin URL for a path that may carry a query (`/c/shoes?sort=price`), as the admin preview sends. */
export function originTargetForPath(originUrl: string, path: string): URL {
  const withoutFragment = path.split("#", 1)[0] ?? "";
  const queryAt = withoutFragment.indexOf("?");
  return queryAt === -1
    ? originTarget(originUrl, withoutFragment, "")
    : originTarget(originUrl, withoutFragment.slice(0, queryAt), withoutFragment.slice(queryAt));
}
