/**
 * `npm run kafka-rest`: a local Kafka REST Proxy double on 127.0.0.1:8082 (or `--port N`) that
 * appends what it receives to `.kafka-rest/<topic>.ndjson` and prints a line per batch.
 * `npm run dev` starts one too; run this on its own when the Worker runs elsewhere.
 */
import { parseArgs } from "node:util";
import { startKafkaRestDouble } from "./server.ts";

const { values } = parseArgs({
  options: { port: { type: "string", default: "8082" }, dir: { type: "string", default: ".kafka-rest" } },
});
const double = await startKafkaRestDouble({ port: Number(values.port), dataDir: values.dir, log: (line) => console.log(line) });
console.log(`kafka-rest: listening on ${double.url}, writing to ${values.dir}/<topic>.ndjson`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void double.close().then(() => process.exit(0));
  });
}
