/**
 * The Kafka REST double refuses what the real proxy refuses, so a producer bug fails here first.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

function produce(body: string, contentType = "application/vnd.kafka.json.v2+json", path = "/topics/tailor.test") {
  return fetch(`${env.KAFKA_REST_URL}${path}`, { method: "POST", headers: { "content-type": contentType }, body });
}

describe("Kafka REST double", () => {
  it("accepts a v2 JSON produce request and answers with one offset per record", async () => {
    const response = await produce(JSON.stringify({ records: [{ key: "a", value: { n: 1 } }, { value: 2 }] }));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/vnd.kafka.v2+json");
    const body = (await response.json()) as { offsets: { partition: number; offset: number; error_code: null }[] };
    expect(body.offsets).toHaveLength(2);
    expect(body.offsets.every((offset) => offset.error_code === null && Number.isInteger(offset.offset))).toBe(true);
  });

  it.each([
    ["a plain JSON content type", JSON.stringify({ records: [{ value: 1 }] }), "application/json", 415],
    ["the binary embedded format", JSON.stringify({ records: [{ value: 1 }] }), "application/vnd.kafka.binary.v2+json", 415],
    ["malformed JSON", "{records:", undefined, 400],
    ["no records", JSON.stringify({ records: [] }), undefined, 422],
    ["a record without value", JSON.stringify({ records: [{ key: "a" }] }), undefined, 422],
    ["an unknown record field", JSON.stringify({ records: [{ value: 1, headers: [] }] }), undefined, 422],
    ["an unknown top-level field", JSON.stringify({ records: [{ value: 1 }], topic: "x" }), undefined, 422],
  ])("refuses %s", async (_, body, contentType, status) => {
    const response = await produce(body, contentType);
    expect(response.status).toBe(status);
    const error = (await response.json()) as { error_code: number; message: string };
    expect(typeof error.error_code).toBe("number");
    expect(error.message.length).toBeGreaterThan(0);
  });

  it("refuses other methods and paths", async () => {
    expect((await fetch(`${env.KAFKA_REST_URL}/topics/tailor.test`)).status).toBe(405);
    expect((await produce(JSON.stringify({ records: [{ value: 1 }] }), undefined, "/topic/tailor.test")).status).toBe(404);
  });
});
