/**
 * JSON Schemas generated from the zod schemas, for readers outside TypeScript: editors of the rules
 * document, and a schema registry for the Kafka topics. Written under `docs/schemas/` by
 * `npm run generate`; `npm test` fails when they are stale.
 */
import { writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import {
  DecisionBatchMessage,
  EventBatchMessage,
  EventMessage,
  ExposureBatchMessage,
  ExposureMessage,
} from "../shared/feedback/messages.ts";
import { Model, RulesDocument } from "../shared/rules/document.ts";
import * as z from "../shared/zod.ts";

const SCHEMAS: Record<string, { schema: z.ZodMiniType; title: string; description: string; io: "input" | "output" }> = {
  "rules-document": {
    schema: RulesDocument,
    title: "Tailor rules document",
    description: "What marketers publish to KV: slots, audiences, experiments, models and rules.",
    io: "input",
  },
  model: {
    schema: Model,
    title: "Tailor model document",
    description: "A model published to KV and referenced from the rules document.",
    io: "input",
  },
  "kafka-event": {
    schema: EventMessage,
    title: "Tailor visitor event (Kafka record value)",
    description: "One visitor event on the raw-events topic, keyed by visitor pseudonym.",
    io: "output",
  },
  "kafka-exposure": {
    schema: ExposureMessage,
    title: "Tailor exposure (Kafka record value)",
    description: "One personalization shown (or held out) on the feedback topic, keyed by visitor pseudonym.",
    io: "output",
  },
  "queue-events": {
    schema: EventBatchMessage,
    title: "Tailor events queue message",
    description: "The new events of one ingest batch, on the tailor-events queue.",
    io: "output",
  },
  "queue-exposures": {
    schema: ExposureBatchMessage,
    title: "Tailor exposures queue message",
    description: "All exposures of one decision, on the tailor-feedback queue.",
    io: "output",
  },
  "queue-decisions": {
    schema: DecisionBatchMessage,
    title: "Tailor decisions queue message",
    description: "The exposures of the decisions one isolate made close together, on the tailor-feedback queue.",
    io: "output",
  },
};

export function generateSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, { schema, title, description, io }] of Object.entries(SCHEMAS)) {
    const json = z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" });
    files[`docs/schemas/${name}.schema.json`] =
      `${JSON.stringify({ $id: `https://tailor.invalid/schemas/${name}.schema.json`, title, description, ...json }, null, 2)}\n`;
  }
  return files;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const [path, text] of Object.entries(generateSchemas())) {
    await writeFile(path, text);
    console.log(`schemas: wrote ${path}`);
  }
}
