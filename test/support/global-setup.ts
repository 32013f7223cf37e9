/**
 * Starts the two local HTTP servers the Worker talks to in tests, exactly as in `npm run dev`:
 * the demo shop (the origin) and the Kafka REST double. Their URLs reach the Worker as the
 * `ORIGIN_URL` and `KAFKA_REST_URL` bindings (see vitest.config.ts).
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { startDemoShop } from "../../demo-shop/server.ts";
import { startKafkaRestDouble } from "../../scripts/kafka-rest/server.ts";

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
  project.provide("originUrl", shop.url);
  project.provide("kafkaRestUrl", kafka.url);
  project.provide("kafkaRestFaultyUrl", faulty.url);
  project.provide("kafkaRestBearerUrl", guarded.url);
  project.provide("kafkaRestBasicUrl", basic.url);
  project.provide("accessCertsUrl", access.url);
  project.provide("accessPrivateKey", access.privateKey);
  project.provide("echoOriginUrl", echo.url);
  project.provide("testSeed", process.env.TEST_SEED ?? "");
  return async () => {
    await Promise.all([shop.close(), kafka.close(), faulty.close(), guarded.close(), basic.close(), access.close(), echo.close()]);
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
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}
