/**
 * The demo shop as a plain HTTP origin on 127.0.0.1. Tailor proxies it through `ORIGIN_URL`
 * exactly as it would proxy a retailer's site in production; nothing here knows about Tailor.
 * @module
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { findProduct, isCategory } from "./catalog.ts";
import { renderCategoryPage, renderHomepage, renderNotFound, renderProductPage, SHOP_CSS } from "./pages.ts";

export interface DemoShopOptions {
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  host?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

interface Page {
  status: number;
  type: string;
  body: string;
}

function route(pathname: string): Page {
  const html = "text/html; charset=utf-8";
  if (pathname === "/") return { status: 200, type: html, body: renderHomepage() };
  if (pathname === "/static/shop.css") return { status: 200, type: "text/css; charset=utf-8", body: SHOP_CSS };
  const category = /^\/c\/([a-z]+)$/.exec(pathname)?.[1];
  if (category !== undefined && isCategory(category)) {
    return { status: 200, type: html, body: renderCategoryPage(category) };
  }
  const productId = /^\/p\/([a-z]{2}-\d{2})$/.exec(pathname)?.[1];
  const product = productId === undefined ? undefined : findProduct(productId);
  if (product !== undefined) return { status: 200, type: html, body: renderProductPage(product) };
  return { status: 404, type: html, body: renderNotFound() };
}

/** Starts the demo shop and resolves once it is listening. */
export function startDemoShop(options: DemoShopOptions = {}): Promise<RunningServer> {
  const server: Server = createServer((request, response) => {
    // The request target is a path, never a URL to resolve: "//host:80/x" must not be read as a host (and crash the shop).
    const target = URL.canParse(`http://origin.invalid${request.url ?? "/"}`)
      ? new URL(`http://origin.invalid${request.url ?? "/"}`)
      : null;
    const page = route(target === null ? "/not-a-path" : target.pathname);
    response.writeHead(page.status, {
      "content-type": page.type,
      "content-length": Buffer.byteLength(page.body),
      "cache-control": page.type.startsWith("text/html") ? "public, max-age=60" : "public, max-age=86400",
    });
    response.end(request.method === "HEAD" ? undefined : page.body);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
