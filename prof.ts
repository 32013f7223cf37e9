import WebSocket from "ws";
import rules from "./demo-shop/rules.json" with { type: "json" };
import { startDemoShop } from "./demo-shop/server.ts";
import { runLoadInChild } from "./scripts/bench/run-load.ts";
import { startKafkaRestDouble } from "./scripts/kafka-rest/server.ts";
import { startLocalTailor } from "./scripts/lib/local-tailor.ts";

const shop = await startDemoShop();
const kafka = await startKafkaRestDouble();
const tailor = await startLocalTailor({ originUrl: shop.url, kafkaRestUrl: kafka.url, rules, inspectorPort: 9331 } as never);
const cookies: string[] = [];
for (let i = 0; i < 100; i++) {
  const cookie = `tailor_vid=${`prof${String(i).padStart(5, "0")}`.padEnd(22, "v")}`;
  await fetch(`${tailor.url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie, "cf-connecting-ip": `10.1.1.${i}` },
    body: JSON.stringify({
      batch: [
        { type: "track", event: "Product Viewed", messageId: `a${i}`, properties: { product_id: "el-02", category: "electronics" } },
        {
          type: "track",
          event: "Product Added",
          messageId: `b${i}`,
          properties: { product_id: "el-05", category: "electronics", price: 10 },
        },
      ],
    }),
  });
  cookies.push(cookie);
}
await runLoadInChild({ url: tailor.url, scenario: "get", path: "/", requests: 500, concurrency: 8, cookies });
const targets = (await (await fetch("http://127.0.0.1:9331/json")).json()) as { webSocketDebuggerUrl: string; title: string }[];
console.log(targets.map((t) => t.title));
const target = targets.find((t) => t.title.includes("tailor")) ?? targets[0];
const ws = new WebSocket(target!.webSocketDebuggerUrl);
await new Promise((r) => ws.once("open", r));
let id = 0;
const pending = new Map<number, (v: unknown) => void>();
ws.on("message", (data) => {
  const m = JSON.parse(String(data));
  if (m.id && pending.has(m.id)) {
    pending.get(m.id)!(m.result);
    pending.delete(m.id);
  }
});
const send = (method: string, params = {}) =>
  new Promise((r) => {
    id++;
    pending.set(id, r);
    ws.send(JSON.stringify({ id, method, params }));
  });
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
await runLoadInChild({ url: tailor.url, scenario: "get", path: "/", requests: 3000, concurrency: 8, cookies });
const { profile } = (await send("Profiler.stop")) as {
  profile: {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount: number; children?: number[] }[];
    samples: number[];
    timeDeltas: number[];
  };
};
const self = new Map<string, number>();
let total = 0;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
for (const n of profile.nodes) {
  const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + n.hitCount);
  total += n.hitCount;
}
console.log("total samples", total);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(((100 * v) / total).toFixed(1).padStart(5), k);
// inclusive by file
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
ws.close();
await tailor.dispose();
await shop.close();
await kafka.close();
