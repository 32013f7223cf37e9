/**
 * A local stand-in for a Kafka REST Proxy. No broker runs on our machines, so this double takes the
 * proxy's place in dev and in tests, and it is deliberately as strict as the real proxy about the
 * wire format: a request the Confluent REST Proxy would refuse is refused here with the same status
 * and `error_code`, so a mistake in our producer fails a test instead of reaching production.
 *
 * It speaks both produce APIs:
 * - v2: `POST /topics/{topic}`, `application/vnd.kafka.json.v2+json`, `{"records": [{"key", "value"}]}`,
 *   answered with one offset (or error) per record;
 * - v3: `POST /v3/clusters/{cluster}/topics/{topic}/records`, `application/json`, one or more
 *   records `{"key": {"type": "JSON", "data"}, "value": {"type": "JSON", "data"}}` (streaming mode:
 *   concatenated JSON objects), answered with one delivery report per record.
 *
 * Accepted records are kept in memory (for tests, readable at `GET /_double/records`), appended to
 * one NDJSON file per topic when `dataDir` is set, and printed. Faults can be switched on to test
 * what the producer does when the proxy misbehaves (`POST /_double/faults`, or `setFaults`).
 * @module
 */
import { appendFile, mkdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { splitJsonObjects } from "../../shared/json-stream.ts";

export type Auth = { type: "basic"; username: string; password: string } | { type: "bearer"; token: string };

/** What the double does wrong, until cleared: fail whole requests, hang, or fail some records. */
export type Faults = { mode: "none" } | { mode: "status"; status: number } | { mode: "hang" } | { mode: "record-errors"; every: number };

export interface KafkaRestDoubleOptions {
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  /** Folder for `<topic>.ndjson` files; records are only kept in memory when absent. */
  dataDir?: string;
  /** Called with a summary per accepted batch and a line per record. */
  log?: (line: string) => void;
  /** Credentials requests must carry; none required when absent. */
  auth?: Auth;
  /** The v3 cluster id; requests for any other cluster get 404. */
  clusterId?: string;
}

export interface ReceivedRecord {
  topic: string;
  partition: number;
  offset: number;
  key: unknown;
  value: unknown;
  receivedAt: string;
}

export interface RunningKafkaRestDouble {
  url: string;
  records(): readonly ReceivedRecord[];
  setFaults(faults: Faults): void;
  /** Requests answered so far, by outcome (`ok`, `status-503`, `hang`, `record-errors`, `refused-415`...). */
  stats(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

const V2_JSON = "application/vnd.kafka.json.v2+json";
const V2_RESPONSE = "application/vnd.kafka.v2+json";
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
const V2_RECORD_FIELDS = new Set(["key", "value", "partition"]);
const V3_RECORD_FIELDS = new Set(["partition_id", "headers", "key", "value", "timestamp"]);
const V3_DATA_FIELDS = new Set(["type", "data", "subject", "subject_name_strategy", "schema_id", "schema_version", "schema"]);
const PARTITIONS = 3;
const MAX_BODY_BYTES = 8 * 1024 * 1024;

class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

function accepts(accept: string | undefined, types: readonly string[]): boolean {
  if (accept === undefined || accept.trim() === "") return true;
  return accept
    .split(",")
    .map((part) => mediaType(part))
    .some((type) => types.includes(type) || type === "application/*" || type === "*/*");
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ProxyError(413, 413, "HTTP 413 Request Entity Too Large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface ParsedRecord {
  key: unknown;
  value: unknown;
  partition?: number;
}

/** Validates a v2 produce body the way the proxy does and returns its records. */
function parseV2Records(text: string): ParsedRecord[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ProxyError(400, 400, `Unexpected character: ${(error as Error).message}`);
  }
  if (!isObject(body)) throw new ProxyError(422, 42200, "Request body must be a JSON object with a records array");
  for (const field of Object.keys(body)) {
    if (!["records", "key_schema", "key_schema_id", "value_schema", "value_schema_id"].includes(field)) {
      throw new ProxyError(422, 42200, `Unrecognized field: ${field}`);
    }
  }
  const records = body.records;
  if (!Array.isArray(records) || records.length === 0) throw new ProxyError(422, 42200, "records may not be empty");
  return records.map((record, index) => {
    if (!isObject(record)) throw new ProxyError(422, 42200, `records[${index}] must be an object`);
    for (const field of Object.keys(record)) {
      if (!V2_RECORD_FIELDS.has(field)) throw new ProxyError(422, 42200, `Unrecognized field: ${field}`);
    }
    if (!("value" in record)) throw new ProxyError(422, 42200, `records[${index}].value is required`);
    const { key, value, partition } = record;
    if (partition !== undefined && (!Number.isInteger(partition) || (partition as number) < 0)) {
      throw new ProxyError(422, 42202, "Request includes an invalid offset or partition.");
    }
    return partition === undefined ? { key, value } : { key, value, partition: partition as number };
  });
}

/** Splits a v3 streaming body (concatenated JSON objects) into values, as the proxy reads it. */
function splitJsonStream(text: string): unknown[] {
  const split = splitJsonObjects(text);
  if (!split.ok) throw new ProxyError(400, 400, split.error);
  if (split.value.length === 0) throw new ProxyError(400, 400, "Request body is empty");
  return split.value;
}

function parseV3Data(data: unknown, field: string, index: number): unknown {
  if (data === undefined || data === null) return null;
  if (!isObject(data)) throw new ProxyError(400, 40002, `records[${index}].${field} must be an object with type and data`);
  for (const name of Object.keys(data)) {
    if (!V3_DATA_FIELDS.has(name)) throw new ProxyError(400, 40002, `Unrecognized field: ${name}`);
  }
  if (data.type !== "JSON") throw new ProxyError(400, 40002, `records[${index}].${field}.type must be JSON for this double`);
  if (!("data" in data)) throw new ProxyError(400, 40002, `records[${index}].${field}.data is required`);
  return data.data;
}

function parseV3Records(text: string): ParsedRecord[] {
  return splitJsonStream(text).map((record, index) => {
    if (!isObject(record)) throw new ProxyError(400, 40002, `records[${index}] must be an object`);
    for (const field of Object.keys(record)) {
      if (!V3_RECORD_FIELDS.has(field)) throw new ProxyError(400, 40002, `Unrecognized field: ${field}`);
    }
    if (!("value" in record)) throw new ProxyError(400, 40002, `records[${index}].value is required`);
    const partition = record.partition_id;
    if (partition !== undefined && (!Number.isInteger(partition) || (partition as number) < 0))
      throw new ProxyError(400, 40002, "Invalid partition_id");
    const parsed: ParsedRecord = { key: parseV3Data(record.key, "key", index), value: parseV3Data(record.value, "value", index) };
    if (partition !== undefined) parsed.partition = partition as number;
    return parsed;
  });
}

/** Kafka's default partitioner picks the partition from the key; any stable hash keeps a key's order. */
function partitionFor(key: unknown): number {
  if (key === undefined || key === null) return 0;
  let hash = 0;
  for (const character of JSON.stringify(key)) hash = (hash * 31 + character.charCodeAt(0)) >>> 0;
  return hash % PARTITIONS;
}

function authorized(request: IncomingMessage, auth: Auth | undefined): boolean {
  if (auth === undefined) return true;
  const header = request.headers.authorization ?? "";
  if (auth.type === "bearer") return header === `Bearer ${auth.token}`;
  return header === `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
}

/** Starts the double and resolves once it is listening on 127.0.0.1. */
export async function startKafkaRestDouble(options: KafkaRestDoubleOptions = {}): Promise<RunningKafkaRestDouble> {
  const received: ReceivedRecord[] = [];
  const nextOffset = new Map<string, number>();
  const stats: Record<string, number> = {};
  const hanging = new Set<ServerResponse>();
  const log = options.log ?? (() => {});
  const clusterId = options.clusterId ?? "tailor-local";
  let faults: Faults = { mode: "none" };
  let recordCounter = 0;
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });

  const count = (outcome: string) => {
    stats[outcome] = (stats[outcome] ?? 0) + 1;
  };

  /** Stores the records that succeed; returns each record's outcome. */
  async function produce(
    topic: string,
    records: ParsedRecord[],
  ): Promise<({ partition: number; offset: number } | { errorCode: number; message: string })[]> {
    const receivedAt = new Date().toISOString();
    const outcomes = records.map(({ key, value, partition }) => {
      recordCounter++;
      if (faults.mode === "record-errors" && recordCounter % faults.every === 0) {
        return { errorCode: 50002, message: "Leader not available (injected)" };
      }
      const chosen = partition ?? partitionFor(key);
      const counter = `${topic}/${chosen}`;
      const offset = nextOffset.get(counter) ?? 0;
      nextOffset.set(counter, offset + 1);
      const record = { topic, partition: chosen, offset, key, value, receivedAt };
      received.push(record);
      return record;
    });
    const accepted = outcomes.filter((outcome): outcome is ReceivedRecord => "topic" in outcome);
    if (options.dataDir !== undefined && accepted.length > 0) {
      await appendFile(join(options.dataDir, `${topic}.ndjson`), `${accepted.map((record) => JSON.stringify(record)).join("\n")}\n`);
    }
    const failed = outcomes.length - accepted.length;
    log(`kafka-rest: ${topic} +${accepted.length} record(s)${failed > 0 ? `, ${failed} failed` : ""}, ${received.length} in total`);
    for (const record of accepted) {
      const value = JSON.stringify(record.value);
      log(
        `  ${record.partition}/${record.offset} key=${JSON.stringify(record.key)} ${value.length > 240 ? `${value.slice(0, 240)}…` : value}`,
      );
    }
    count(failed > 0 ? "record-errors" : "ok");
    return outcomes;
  }

  /** Applies auth and request-wide faults; true when the request was already answered (or left hanging). */
  function intercepted(request: IncomingMessage, response: ServerResponse, errorType: string): boolean {
    if (!authorized(request, options.auth)) {
      count("refused-401");
      send(response, 401, errorType, { error_code: 40101, message: "Unauthorized" });
      return true;
    }
    if (faults.mode === "hang") {
      count("hang");
      hanging.add(response);
      response.on("close", () => hanging.delete(response));
      return true;
    }
    if (faults.mode === "status") {
      count(`status-${faults.status}`);
      send(response, faults.status, errorType, { error_code: faults.status * 100 + 1, message: `Injected failure ${faults.status}` });
      return true;
    }
    return false;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://double.invalid");
    if (url.pathname === "/_double/records" && request.method === "GET") {
      const topic = url.searchParams.get("topic");
      send(response, 200, "application/json", topic === null ? received : received.filter((record) => record.topic === topic));
      return;
    }
    if (url.pathname === "/_double/faults" && request.method === "POST") {
      faults = JSON.parse(await readBody(request)) as Faults;
      log(`kafka-rest: faults now ${JSON.stringify(faults)}`);
      send(response, 200, "application/json", faults);
      return;
    }
    const v2 = /^\/topics\/([^/]+)$/.exec(url.pathname);
    if (v2?.[1] !== undefined) {
      if (request.method !== "POST") throw new ProxyError(405, 405, "HTTP 405 Method Not Allowed");
      if (intercepted(request, response, V2_RESPONSE)) return;
      const topic = decodeURIComponent(v2[1]);
      if (!TOPIC_NAME.test(topic)) throw new ProxyError(404, 40401, "Topic not found.");
      if (mediaType(request.headers["content-type"]) !== V2_JSON) throw new ProxyError(415, 415, "HTTP 415 Unsupported Media Type");
      if (!accepts(request.headers.accept, [V2_RESPONSE, "application/json"])) throw new ProxyError(406, 406, "HTTP 406 Not Acceptable");
      const outcomes = await produce(topic, parseV2Records(await readBody(request)));
      send(response, 200, V2_RESPONSE, {
        key_schema_id: null,
        value_schema_id: null,
        offsets: outcomes.map((outcome) =>
          "errorCode" in outcome
            ? { partition: null, offset: null, error_code: outcome.errorCode, error: outcome.message }
            : { partition: outcome.partition, offset: outcome.offset, error_code: null, error: null },
        ),
      });
      return;
    }
    const v3 = /^\/v3\/clusters\/([^/]+)\/topics\/([^/]+)\/records$/.exec(url.pathname);
    if (v3?.[1] !== undefined && v3[2] !== undefined) {
      if (request.method !== "POST") throw new ProxyError(405, 405, "HTTP 405 Method Not Allowed");
      if (intercepted(request, response, "application/json")) return;
      if (decodeURIComponent(v3[1]) !== clusterId) throw new ProxyError(404, 40403, "Cluster not found.");
      const topic = decodeURIComponent(v3[2]);
      if (!TOPIC_NAME.test(topic)) throw new ProxyError(404, 40403, "Topic not found.");
      if (mediaType(request.headers["content-type"]) !== "application/json")
        throw new ProxyError(415, 415, "HTTP 415 Unsupported Media Type");
      const outcomes = await produce(topic, parseV3Records(await readBody(request)));
      const reports = outcomes.map((outcome) =>
        "errorCode" in outcome
          ? { error_code: outcome.errorCode, message: outcome.message }
          : {
              error_code: 200,
              cluster_id: clusterId,
              topic_name: topic,
              partition_id: outcome.partition,
              offset: outcome.offset,
              timestamp: new Date().toISOString(),
            },
      );
      response.writeHead(200, { "content-type": "application/json" });
      response.end(reports.map((report) => JSON.stringify(report)).join("\n"));
      return;
    }
    throw new ProxyError(404, 404, "HTTP 404 Not Found");
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const type = request.url?.startsWith("/v3/") ? "application/json" : V2_RESPONSE;
      if (error instanceof ProxyError) {
        count(`refused-${error.status}`);
        send(response, error.status, type, { error_code: error.errorCode, message: error.message });
      } else {
        count("error-500");
        send(response, 500, type, { error_code: 50001, message: String(error) });
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records: () => received,
    setFaults: (next) => {
      faults = next;
      if (next.mode !== "hang") {
        for (const response of hanging) response.destroy();
        hanging.clear();
      }
    },
    stats: () => stats,
    close: () =>
      new Promise((done) => {
        for (const response of hanging) response.destroy();
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

function send(response: ServerResponse, status: number, type: string, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  response.end(text);
}
