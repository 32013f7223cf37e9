/**
 * `npm run smoke -- [--url https://shop.example.com]`: checks a deployed Tailor from outside, as a
 * browser and an attacker would see it, with a throwaway test visitor (erased at the end):
 *
 *  - pass-through: the home page and the tracker answer, the page with no `5xx`;
 *  - ingest: an event batch is accepted (with the consent cookie, in case consent is required);
 *  - personalization: the test visitor's events are in their profile, and the decision API answers
 *    for them against live rules;
 *  - `/admin` is the admin Worker (reached through the visitors' Worker's ADMIN binding, not a 503)
 *    and refuses the unauthenticated (401, or Cloudflare Access's sign-in redirect or 403).
 *
 * Tailor is found as every tool finds it (`--url`, `TAILOR_URL`, the running `npm run dev`). Exit
 * code 0 when every check passes, 1 otherwise, 2 when Tailor cannot be reached.
 */
import { parseArgs } from "node:util";
import { tailorUrl } from "./lib/tailor-url.ts";

const { values } = parseArgs({ options: { url: { type: "string" }, "consent-cookie": { type: "string", default: "tailor_consent" } } });
const base = tailorUrl(values.url);
/** A browser's user agent (bots are served unpersonalized and untracked), marked as the smoke test's. */
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36 TailorSmoke/1";
const consent = `${values["consent-cookie"]}=1`;
let visitor = "";
let failures = 0;

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("user-agent", USER_AGENT);
  headers.set("cookie", [consent, visitor].filter((part) => part !== "").join("; "));
  try {
    return await fetch(`${base}${path}`, { ...init, headers, redirect: "manual", signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    console.error(`smoke: cannot reach ${base}${path}: ${(error as Error).message}`);
    process.exit(2);
  }
}

async function check(name: string, test: () => Promise<string | true>): Promise<void> {
  let outcome: string | true;
  try {
    outcome = await test();
  } catch (error) {
    outcome = (error as Error).message;
  }
  if (outcome === true) console.log(`  ok    ${name}`);
  else {
    failures++;
    console.log(`  FAIL  ${name}: ${outcome}`);
  }
}

console.log(`smoke: ${base}`);

await check("GET / answers with the shop's page", async () => {
  const page = await call("/");
  const type = page.headers.get("content-type") ?? "";
  const body = await page.text();
  if (page.status !== 200) return `status ${page.status}`;
  return type.includes("text/html") && body.length > 0 ? true : `content-type ${type}, ${body.length} bytes`;
});

await check("GET /t.js serves the tracker", async () => {
  const tracker = await call("/t.js");
  await tracker.body?.cancel();
  return tracker.status === 200 && (tracker.headers.get("content-type") ?? "").includes("javascript") ? true : `status ${tracker.status}`;
});

await check("POST /v1/events accepts a batch and issues a visitor cookie", async () => {
  const messageId = `smoke-${crypto.randomUUID()}`;
  const events = ["sm-1", "sm-2", "sm-3"].map((id, index) => ({
    type: "track",
    event: "Product Viewed",
    messageId: `${messageId}-${index}`,
    timestamp: new Date().toISOString(),
    properties: { product_id: id, category: "electronics" },
  }));
  const response = await call("/v1/events", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ batch: events }),
  });
  const body = (await response.json().catch(() => ({}))) as { accepted?: number; reason?: string };
  visitor = /tailor_vid=[A-Za-z0-9_-]+/.exec(response.headers.get("set-cookie") ?? "")?.[0] ?? "";
  if (response.status !== 202) return `status ${response.status}`;
  if (body.accepted !== 3) return `accepted ${body.accepted ?? "?"}${body.reason ? ` (${body.reason})` : ""}`;
  return visitor !== "" ? true : "no visitor cookie";
});

await check("the test visitor's events are in their profile", async () => {
  const response = await call("/v1/profile");
  if (response.status !== 200) return `status ${response.status}`;
  const profile = (await response.json()) as { events?: unknown[] };
  return (profile.events?.length ?? 0) >= 3 ? true : `${profile.events?.length ?? 0} events`;
});

await check("GET /v1/decide decides for the test visitor against live rules", async () => {
  const response = await call("/v1/decide?path=/");
  if (response.status !== 200) return `status ${response.status}`;
  const decision = (await response.json()) as { rulesVersion?: number; slots?: unknown[] };
  if (typeof decision.rulesVersion !== "number")
    return "no live rules for / (publish rules, or / is not targeted, or the live version is not signed: publish it again, docs/operations.md)";
  console.log(`        rules version ${decision.rulesVersion}, ${decision.slots?.length ?? 0} slot(s) personalized`);
  return true;
});

await check("/admin is the admin Worker and refuses the unauthenticated", async () => {
  for (const path of ["/admin/api/rules", "/admin/api/audit"]) {
    const response = await call(path);
    await response.body?.cancel();
    const location = response.headers.get("location") ?? "";
    if (response.status === 503)
      return `${path} answered 503: the admin Worker is not reachable through the ADMIN binding (deploy both Workers: npm run deploy)`;
    const refused =
      response.status === 401 ||
      response.status === 403 ||
      (response.status >= 300 && response.status < 400 && location.includes("cloudflareaccess.com"));
    if (!refused) return `${path} answered ${response.status}${location ? ` to ${location}` : ""}`;
  }
  return true;
});

await check("the test visitor is erased again", async () => {
  const response = await call("/v1/profile", { method: "DELETE" });
  return response.status === 204 ? true : `status ${response.status}`;
});

console.log(failures === 0 ? "smoke: all checks passed" : `smoke: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
