/**
 * The whole system on this machine for system tests: the demo shop, a Kafka REST double and the
 * built Worker on Miniflare with its real bindings (queues, Durable Objects, KV).
 */
import { startDemoShop } from "../../demo-shop/server.ts";
import { type KafkaRestDoubleOptions, type RunningKafkaRestDouble, startKafkaRestDouble } from "../../scripts/kafka-rest/server.ts";
import { type LocalTailor, startLocalTailor } from "../../scripts/lib/local-tailor.ts";

export interface System {
  tailor: LocalTailor;
  kafka: RunningKafkaRestDouble;
  adminToken: string;
  close(): Promise<void>;
}

export async function startSystem(
  rules: { version: number },
  bindings: Record<string, string> = {},
  kafkaOptions: KafkaRestDoubleOptions = {},
): Promise<System> {
  const shop = await startDemoShop();
  const kafka = await startKafkaRestDouble(kafkaOptions);
  const adminToken = "system-test-admin-token-0123456789";
  const tailor = await startLocalTailor({
    originUrl: shop.url,
    kafkaRestUrl: kafka.url,
    rules,
    // Deadlines far above any scheduling delay: system tests run while the machine is busy.
    bindings: {
      ADMIN_TOKEN: adminToken,
      PROFILE_DEADLINE_MS: "10000",
      RULES_DEADLINE_MS: "10000",
      MODELS_DEADLINE_MS: "10000",
      ...bindings,
    },
  });
  return {
    tailor,
    kafka,
    adminToken,
    close: async () => {
      await tailor.dispose();
      await Promise.all([shop.close(), kafka.close()]);
    },
  };
}

/** A valid visitor cookie for the given number. */
export function visitorCookie(index: number, prefix = "sys"): string {
  return `tailor_vid=${`${prefix}${String(index).padStart(8, "0")}`.padEnd(22, "x").slice(0, 22)}`;
}

export { inParallel, waitFor as waitUntil } from "../../scripts/lib/polling.ts";
