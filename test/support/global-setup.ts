/**
 * Starts the two local HTTP servers the Worker talks to in tests, exactly as in `npm run dev`:
 * the demo shop (the origin) and the Kafka REST double. Their URLs reach the Worker as the
 * `ORIGIN_URL` and `KAFKA_REST_URL` bindings (see vitest.config.ts).
 */
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
  project.provide("originUrl", shop.url);
  project.provide("kafkaRestUrl", kafka.url);
  project.provide("kafkaRestFaultyUrl", faulty.url);
  project.provide("kafkaRestBearerUrl", guarded.url);
  project.provide("kafkaRestBasicUrl", basic.url);
  project.provide("testSeed", process.env.TEST_SEED ?? "");
  return async () => {
    await Promise.all([shop.close(), kafka.close(), faulty.close(), guarded.close(), basic.close()]);
  };
}
