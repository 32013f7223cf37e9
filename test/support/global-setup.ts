/**
 * Starts the two local HTTP servers the Worker talks to in tests, exactly as in `npm run dev`:
 * the demo shop (the origin) and the Kafka REST double. Their URLs reach the Worker as the
 * `ORIGIN_URL` and `KAFKA_REST_URL` bindings (see vitest.config.ts).
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import type { TestProject } from "vitest/node";
import { startDemoShop } from "../../demo-shop/server.ts";
import { startKafkaRestDouble } from "../../scripts/kafka-rest/server.ts";
import { CACHING_ORIGIN_HEADERS } from "./caching-origin.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shop = await startDemoShop();
  const kafka = await startKafkaRestDouble();
  // Separate doubles for tests that switch faults on or require credentials, so they cannot
  // disturb tests running in parallel against the main one.
  const faulty = await startKafkaRestDouble();
  const guarded = await startKafkaRestDouble({ auth: { type: "bearer", token: "test-kafka-token" } });
  const basic = await startKafkaRestDouble({ auth: { type: "basic", username: "tailor", password: "s3cret" } });
  const access = await startAccessKeys();
  const echo = await startEchoOrigin();
  const stray = await startStrayHost();
  const hanging = await startHangingOrigin();
  const garbage = await startGarbageOrigin();
  const caching = await startCachingOrigin();
  const stalling = await startStallingOrigin(stray.url);
  const refused = await unusedPortUrl();
  project.provide("originUrl", shop.url);
  project.provide("kafkaRestUrl", kafka.url);
  project.provide("kafkaRestFaultyUrl", faulty.url);
  project.provide("kafkaRestBearerUrl", guarded.url);
  project.provide("kafkaRestBasicUrl", basic.url);
  project.provide("accessCertsUrl", access.url);
  project.provide("accessPrivateKey", access.privateKey);
  project.provide("echoOriginUrl", echo.url);
  project.provide("strayHostUrl", stray.url);
  project.provide("hangingOriginUrl", hanging.url);
  project.provide("garbageOriginUrl", garbage.url);
  project.provide("cachingOriginUrl", caching.url);
  project.provide("stallingOriginUrl", stalling.url);
  project.provide("refusedOriginUrl", refused);
  project.provide("testSeed", process.env.TEST_SEED ?? "");
  return async () => {
    await Promise.all([shop.close(), kafka.close(), faulty.close(), guarded.close(), basic.close(), access.close(), echo.close()]);
    await Promise.all([stray.close(), hanging.close(), garbage.close(), caching.close(), stalling.close()]);
  };
}

/** Publishes a Cloudflare Access-style key set (one RSA key, kid "test-key") for the Access tests. */
async function startAccessKeys(): Promise<{ url: string; privateKey: string; close(): Promise<void> }> {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "test-key", alg: "RS256", use: "sig" };
  const server = createServer((_, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  const { url, close } = await listenLocally(server);
  return { url: `${url}/cdn-cgi/access/certs`, privateKey: JSON.stringify(privateKey.export({ format: "jwk" })), close };
}

/** An origin that answers every request with what it received (method, path and query, headers, body) as JSON. */
async function startEchoOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
  });
  return listenLocally(server);
}

/** Listens on a free port of 127.0.0.1. */
async function listenLocally(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    // Connections that never finish (hanging and stalling origins) would keep close() waiting.
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * Stands for "another host" in the proxy tests: counts every request it gets (`GET /_stray/hits`
 * reads the count without adding to it). The page proxy must never reach it.
 */
async function startStrayHost(): Promise<{ url: string; close(): Promise<void> }> {
  let hits = 0;
  const server = createServer((request, response) => {
    if (request.url === "/_stray/hits") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ hits }));
      return;
    }
    hits++;
    response.writeHead(200, { "content-type": "text/plain" });
    response.end("stray host reached");
  });
  return listenLocally(server);
}

/** An origin that accepts every request and never answers. */
async function startHangingOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(() => {});
  return listenLocally(server);
}

/** An origin that answers every connection with bytes that are not HTTP. */
async function startGarbageOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createTcpServer((socket) => {
    socket.on("error", () => {});
    socket.end("SURPRISE \u0000\u0001 not http at all\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}

/** An origin whose pages (any path) carry every caching header there is (`CACHING_ORIGIN_HEADERS`) and a hero slot. */
async function startCachingOrigin(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8", ...CACHING_ORIGIN_HEADERS });
    response.end('<!doctype html><html><body><section data-slot="hero"><h1>Default hero</h1></section></body></html>');
  });
  return listenLocally(server);
}

/**
 * An origin that sends a page's headers and its first bytes, then nothing more while keeping the
 * connection open (any path; `?type=` sets another content type). `/away` instead redirects to the
 * stray host (`?status=` picks the redirect status, 302 by default), which a client that follows
 * redirects would reach.
 */
async function startStallingOrigin(strayUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://origin.test");
    if (url.pathname === "/away") {
      response.writeHead(Number(url.searchParams.get("status") ?? "302"), { location: `${strayUrl}/landing`, "content-type": "text/html" });
      response.end('<a href="elsewhere">moved</a>');
      return;
    }
    response.writeHead(200, { "content-type": url.searchParams.get("type") ?? "text/html; charset=utf-8" });
    response.write('<!doctype html><html><body><section data-slot="hero"><h1>Default hero</h1></section><p>The rest of the page is late');
  });
  return listenLocally(server);
}

/** The URL of a local port nothing listens on (connections are refused). */
async function unusedPortUrl(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
