/**
 * A producer for the Kafka REST Proxy wire format (Confluent REST Proxy v2, also spoken by
 * Redpanda's HTTP proxy and Karapace): `POST /topics/{topic}` with
 * `application/vnd.kafka.json.v2+json` and `{"records": [{"key", "value"}]}`. The proxy answers
 * 200 with one offset entry per record, each of which may still carry its own error.
 * @see https://docs.confluent.io/platform/current/kafka-rest/api.html
 * @module
 */
import { z } from "zod";
import { err, ok, type Result } from "../../shared/result.ts";

export interface KafkaRecord {
  key: string;
  value: unknown;
}

const ProduceResponse = z.object({
  offsets: z.array(
    z.object({
      partition: z.number().nullable().optional(),
      offset: z.number().nullable().optional(),
      error_code: z.number().nullable().optional(),
      error: z.string().nullable().optional(),
    }),
  ),
});

/** Per record: delivered, or the proxy's error for it. */
export type RecordOutcome = { delivered: true } | { delivered: false; errorCode: number | null; error: string };

export type ProduceFailure =
  /** The request can never succeed as sent (4xx other than 408/429): do not retry it unchanged. */
  | { kind: "rejected"; status: number; detail: string }
  /** The proxy or the network failed (5xx, 408, 429, timeout, bad response): retry later. */
  | { kind: "unavailable"; status: number | null; detail: string };

export interface ProducerOptions {
  baseUrl: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Sends records to `topic` and reports each record's outcome in order. */
export async function produceRecords(
  options: ProducerOptions,
  topic: string,
  records: readonly KafkaRecord[],
): Promise<Result<RecordOutcome[], ProduceFailure>> {
  const url = new URL(`topics/${encodeURIComponent(topic)}`, options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      method: "POST",
      headers: { "content-type": "application/vnd.kafka.json.v2+json", accept: "application/vnd.kafka.v2+json, application/json" },
      body: JSON.stringify({ records: records.map(({ key, value }) => ({ key, value })) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (error) {
    return err({ kind: "unavailable", status: null, detail: String(error) });
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) {
    const retriable = response.status >= 500 || response.status === 408 || response.status === 429;
    return err({ kind: retriable ? "unavailable" : "rejected", status: response.status, detail: text.slice(0, 500) });
  }
  let parsed: z.infer<typeof ProduceResponse>;
  try {
    parsed = ProduceResponse.parse(JSON.parse(text));
  } catch {
    return err({ kind: "unavailable", status: response.status, detail: `unexpected response: ${text.slice(0, 200)}` });
  }
  if (parsed.offsets.length !== records.length) {
    return err({
      kind: "unavailable",
      status: response.status,
      detail: `expected ${records.length} offsets, got ${parsed.offsets.length}`,
    });
  }
  return ok(
    parsed.offsets.map((offset) =>
      offset.error_code === null || offset.error_code === undefined
        ? { delivered: true as const }
        : { delivered: false as const, errorCode: offset.error_code, error: offset.error ?? "unknown error" },
    ),
  );
}
