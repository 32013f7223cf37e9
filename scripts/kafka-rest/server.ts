/**
 * A local stand-in for a Kafka REST Proxy. No broker runs on our machines, so this double takes the
 * proxy's place in dev and in tests, and it is deliberately as strict as the real proxy about the
 * wire format: a request the Confluent REST Proxy would refuse is refused here with the same status
 * and `error_code`, so a mistake in our producer fails a test instead of reaching production.
 *
 * Accepted records are kept in memory (for tests, readable at `GET /_double/records`), appended to
 * one NDJSON file per topic when `dataDir` is set, and summarised on one log line per batch.
 * @module
 */
import { appendFile, mkdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface KafkaRestDoubleOptions {
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  /** Folder for `<topic>.ndjson` files; records are only kept in memory when absent. */
  dataDir?: string;
  /** Called with a one-line summary per accepted batch. */
  log?: (line: string) => void;
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
  close(): Promise<void>;
}

const V2_JSON = "application/vnd.kafka.json.v2+json";
const V2_RESPONSE = "application/vnd.kafka.v2+json";
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
const RECORD_FIELDS = new Set(["key", "value", "partition"]);
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

function acceptsV2(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === "") return true;
  return accept
    .split(",")
    .map((part) => mediaType(part))
    .some((type) => type === V2_RESPONSE || type === "application/json" || type === "application/*" || type === "*/*");
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

/** Validates a v2 produce body the way the proxy does and returns its records. */
function parseV2Records(text: string): { key: unknown; value: unknown; partition?: number }[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ProxyError(400, 400, `Unexpected character: ${(error as Error).message}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ProxyError(422, 42200, "Request body must be a JSON object with a records array");
  }
  for (const field of Object.keys(body)) {
    if (!["records", "key_schema", "key_schema_id", "value_schema", "value_schema_id"].includes(field)) {
      throw new ProxyError(422, 42200, `Unrecognized field: ${field}`);
    }
  }
  const records = (body as { records?: unknown }).records;
  if (!Array.isArray(records) || records.length === 0) {
    throw new ProxyError(422, 42200, "records may not be empty");
  }
  return records.map((record, index) => {
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      throw new ProxyError(422, 42200, `records[${index}] must be an object`);
    }
    for (const field of Object.keys(record)) {
      if (!RECORD_FIELDS.has(field)) throw new ProxyError(422, 42200, `Unrecognized field: ${field}`);
    }
    const { key, value, partition } = record as { key?: unknown; value?: unknown; partition?: unknown };
    if (!("value" in record)) throw new ProxyError(422, 42200, `records[${index}].value is required`);
    if (partition !== undefined && (!Number.isInteger(partition) || (partition as number) < 0)) {
      throw new ProxyError(422, 42202, "Request includes an invalid offset or partition.");
    }
    return partition === undefined ? { key, value } : { key, value, partition: partition as number };
  });
}

/** Kafka's default partitioner picks the partition from the key; any stable hash keeps a key's order. */
function partitionFor(key: unknown): number {
  if (key === undefined || key === null) return 0;
  let hash = 0;
  for (const character of JSON.stringify(key)) hash = (hash * 31 + character.charCodeAt(0)) >>> 0;
  return hash % PARTITIONS;
}

/** Starts the double and resolves once it is listening on 127.0.0.1. */
export async function startKafkaRestDouble(options: KafkaRestDoubleOptions = {}): Promise<RunningKafkaRestDouble> {
  const received: ReceivedRecord[] = [];
  const nextOffset = new Map<string, number>();
  const log = options.log ?? (() => {});
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });

  async function produceV2(topic: string, request: IncomingMessage): Promise<unknown> {
    if (!TOPIC_NAME.test(topic)) throw new ProxyError(404, 40401, "Topic not found.");
    if (mediaType(request.headers["content-type"]) !== V2_JSON) {
      throw new ProxyError(415, 415, "HTTP 415 Unsupported Media Type");
    }
    if (!acceptsV2(request.headers.accept)) throw new ProxyError(406, 406, "HTTP 406 Not Acceptable");
    const records = parseV2Records(await readBody(request));
    const receivedAt = new Date().toISOString();
    const accepted = records.map(({ key, value, partition }) => {
      const chosen = partition ?? partitionFor(key);
      const counter = `${topic}/${chosen}`;
      const offset = nextOffset.get(counter) ?? 0;
      nextOffset.set(counter, offset + 1);
      return { topic, partition: chosen, offset, key, value, receivedAt };
    });
    received.push(...accepted);
    if (options.dataDir !== undefined) {
      const lines = accepted.map((record) => JSON.stringify(record)).join("\n");
      await appendFile(join(options.dataDir, `${topic}.ndjson`), `${lines}\n`);
    }
    log(`kafka-rest: ${topic} +${accepted.length} record(s), ${received.length} in total`);
    for (const record of accepted) {
      const value = JSON.stringify(record.value);
      log(
        `  ${record.partition}/${record.offset} key=${JSON.stringify(record.key)} ${value.length > 240 ? `${value.slice(0, 240)}…` : value}`,
      );
    }
    return {
      key_schema_id: null,
      value_schema_id: null,
      offsets: accepted.map(({ partition, offset }) => ({ partition, offset, error_code: null, error: null })),
    };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://double.invalid");
    if (url.pathname === "/_double/records" && request.method === "GET") {
      const topic = url.searchParams.get("topic");
      const body = topic === null ? received : received.filter((record) => record.topic === topic);
      send(response, 200, "application/json", body);
      return;
    }
    const v2 = /^\/topics\/([^/]+)$/.exec(url.pathname);
    if (v2?.[1] !== undefined) {
      if (request.method !== "POST") throw new ProxyError(405, 405, "HTTP 405 Method Not Allowed");
      send(response, 200, V2_RESPONSE, await produceV2(decodeURIComponent(v2[1]), request));
      return;
    }
    throw new ProxyError(404, 404, "HTTP 404 Not Found");
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (error instanceof ProxyError) {
        send(response, error.status, V2_RESPONSE, { error_code: error.errorCode, message: error.message });
      } else {
        send(response, 500, V2_RESPONSE, { error_code: 50001, message: String(error) });
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
    close: () => new Promise((done) => server.close(() => done())),
  };
}

function send(response: ServerResponse, status: number, type: string, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  response.end(text);
}
