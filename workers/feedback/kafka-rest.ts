/**
 * A producer for the Kafka REST Proxy wire format, spoken by the Confluent REST Proxy, Redpanda's
 * HTTP proxy and Karapace:
 * - v2 (default): `POST /topics/{topic}`, `application/vnd.kafka.json.v2+json`,
 *   `{"records": [{"key", "value"}]}` → one offset entry per record, each possibly an error;
 * - v3: `POST /v3/clusters/{cluster}/topics/{topic}/records`, `application/json`, records in
 *   streaming mode (one JSON object per record) → one delivery report per record.
 * Basic or bearer authentication from secrets.
 * @see https://docs.confluent.io/platform/current/kafka-rest/api.html
 * @module
 */
import { encodeBase64 } from "hono/utils/encode";
import { splitJsonObjects } from "../../shared/json-stream.ts";
import { err, ok, type Result } from "../../shared/result.ts";
import * as z from "../../shared/zod.ts";
import { settings } from "../common/config.ts";

export interface KafkaRecord {
  key: string;
  value: unknown;
}

/** Per record: delivered, or the proxy's error for it. */
export type RecordOutcome = { delivered: true } | { delivered: false; errorCode: number | null; error: string };

export type ProduceFailure =
  /** The request can never succeed as sent (4xx other than 408/429): do not retry it unchanged. */
  | { kind: "rejected"; status: number; detail: string }
  /** The proxy or the network failed (5xx, 408, 429, timeout, bad response): retry later. */
  | { kind: "unavailable"; status: number | null; detail: string };

export interface ProducerOptions {
  baseUrl: string;
  api?: "v2" | "v3";
  clusterId?: string;
  /** `Authorization` header value, e.g. `Basic ...` or `Bearer ...`. */
  authorization?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const V2Response = z.object({
  offsets: z.array(
    z.object({
      partition: z.optional(z.nullable(z.number())),
      offset: z.optional(z.nullable(z.number())),
      error_code: z.optional(z.nullable(z.number())),
      error: z.optional(z.nullable(z.string())),
    }),
  ),
});

const V3Report = z.object({ error_code: z.number(), message: z.optional(z.string()) });

/** The proxy settings from the Worker's environment. */
export function producerOptions(env: Pick<Env, "KAFKA_REST_USERNAME" | "KAFKA_REST_PASSWORD" | "KAFKA_REST_TOKEN">): ProducerOptions {
  const config = settings(env);
  const options: ProducerOptions = { baseUrl: config.KAFKA_REST_URL, api: config.KAFKA_REST_API, timeoutMs: config.KAFKA_REST_TIMEOUT_MS };
  if (config.KAFKA_CLUSTER_ID) options.clusterId = config.KAFKA_CLUSTER_ID;
  if (env.KAFKA_REST_TOKEN) options.authorization = `Bearer ${env.KAFKA_REST_TOKEN}`;
  else if (env.KAFKA_REST_USERNAME) {
    // RFC 7617: the user-pass is UTF-8 before base64, so names outside Latin-1 work too.
    const userPass = new TextEncoder().encode(`${env.KAFKA_REST_USERNAME}:${env.KAFKA_REST_PASSWORD ?? ""}`);
    options.authorization = `Basic ${encodeBase64(userPass.buffer)}`;
  }
  return options;
}

function endpoint(options: ProducerOptions, topic: string): URL {
  const base = options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`;
  const path =
    options.api === "v3"
      ? `v3/clusters/${encodeURIComponent(options.clusterId ?? "")}/topics/${encodeURIComponent(topic)}/records`
      : `topics/${encodeURIComponent(topic)}`;
  return new URL(path, base);
}

function body(options: ProducerOptions, records: readonly KafkaRecord[]): string {
  if (options.api === "v3") {
    return records
      .map(({ key, value }) => JSON.stringify({ key: { type: "JSON", data: key }, value: { type: "JSON", data: value } }))
      .join("\n");
  }
  return JSON.stringify({ records: records.map(({ key, value }) => ({ key, value })) });
}

function outcomes(options: ProducerOptions, text: string): RecordOutcome[] {
  if (options.api === "v3") {
    const reports = splitJsonObjects(text);
    if (!reports.ok) throw new Error(reports.error);
    return reports.value.map((raw) => {
      const report = V3Report.parse(raw);
      return report.error_code === 200
        ? { delivered: true as const }
        : { delivered: false as const, errorCode: report.error_code, error: report.message ?? "unknown error" };
    });
  }
  return V2Response.parse(JSON.parse(text)).offsets.map((offset) =>
    offset.error_code === null || offset.error_code === undefined
      ? { delivered: true as const }
      : { delivered: false as const, errorCode: offset.error_code, error: offset.error ?? "unknown error" },
  );
}

/** Sends records to `topic` and reports each record's outcome, in order. */
export async function produceRecords(
  options: ProducerOptions,
  topic: string,
  records: readonly KafkaRecord[],
): Promise<Result<RecordOutcome[], ProduceFailure>> {
  const headers: Record<string, string> =
    options.api === "v3"
      ? { "content-type": "application/json", accept: "application/json" }
      : { "content-type": "application/vnd.kafka.json.v2+json", accept: "application/vnd.kafka.v2+json, application/json" };
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(endpoint(options, topic), {
      method: "POST",
      headers,
      body: body(options, records),
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
  let results: RecordOutcome[];
  try {
    results = outcomes(options, text);
  } catch {
    return err({ kind: "unavailable", status: response.status, detail: `unexpected response: ${text.slice(0, 200)}` });
  }
  if (results.length !== records.length) {
    return err({ kind: "unavailable", status: response.status, detail: `expected ${records.length} results, got ${results.length}` });
  }
  return ok(results);
}
