import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { kCurrentWorker } from "miniflare";
import { defineConfig } from "vitest/config";

/** Fixed test-only secrets; real ones live in `.dev.vars` (local) or `wrangler secret` (deployed). */
const TEST_SECRETS = {
  VISITOR_ID_SECRET: "test-visitor-id-secret-0123456789abcdef",
  ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
  IDENTITY_SECRET: "test-identity-secret-0123456789abcdef",
  RULES_SIGNING_KEY: "test-rules-signing-key-0123456789abcdef",
};

/**
 * Stage deadlines far above any scheduling delay on a busy machine: tests that are not about
 * deadlines must not pass or fail by how fast the machine is. Tests about deadlines set their own
 * and control when the slow part answers.
 */
const TEST_DEADLINES = {
  PROFILE_DEADLINE_MS: "10000",
  RULES_DEADLINE_MS: "10000",
  MODELS_DEADLINE_MS: "10000",
};

export default defineConfig({
  test: {
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            // The visitors' Worker, with the admin Worker as an entrypoint of the same script for
            // the ADMIN binding (test/support/worker/main.ts says why).
            main: "./test/support/worker/main.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              serviceBindings: { ADMIN: { name: kCurrentWorker, entrypoint: "AdminWorker" } },
              bindings: {
                ...TEST_SECRETS,
                ...TEST_DEADLINES,
                ORIGIN_URL: inject("originUrl"),
                KAFKA_REST_URL: inject("kafkaRestUrl"),
              },
            },
          })),
        ],
        test: {
          name: "workerd",
          include: ["test/{workers,durable-objects,shared}/**/*.test.ts"],
          globalSetup: ["./test/support/global-setup.ts"],
          // Far above any scheduling delay: a file's first test also pays for loading the Worker,
          // which took over vitest's default 5 s while other work shared the two cores.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Node-side tools: the model trainer and other scripts.
        test: {
          name: "node",
          include: ["test/scripts/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
        },
      },
      {
        // System tests: the built Worker on Miniflare with its real queues, under load and faults.
        test: {
          name: "system",
          // After the others: these load the machine, and would make timing-sensitive tests flaky.
          sequence: { groupOrder: 2 },
          include: ["test/system/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        // Real-browser tests: Node drives Debian's Chromium against the built Worker on Miniflare.
        test: {
          name: "browser",
          sequence: { groupOrder: 1 },
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
