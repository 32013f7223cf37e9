/**
 * The operational admin routes: dead letters and experiment reports, behind the admin token.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

describe("admin operations", () => {
  it.each([
    ["GET", "/admin/api/dead-letters"],
    ["POST", "/admin/api/dead-letters/replay"],
    ["GET", "/admin/api/experiments/anything"],
  ])("refuses %s %s without the admin token", async (method, path) => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong-token-wrong-token" },
      { authorization: env.ADMIN_TOKEN },
    ];
    for (const headers of attempts) {
      const response = await request(path, { method, headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(response.headers.get("www-authenticate")).toMatch(/Bearer/);
    }
  });

  it("lists and replays dead letters", async () => {
    await env.DEAD_LETTERS.getByName("all").add([
      {
        queue: "tailor-feedback",
        reason: "refused-422",
        detail: "test",
        attempts: 1,
        failedAt: Date.now(),
        body: { kind: "click", nonsense: true },
      },
    ]);
    const summary = (await (await request("/admin/api/dead-letters", { headers: ADMIN })).json()) as {
      total: number;
      byReason: { reason: string }[];
    };
    expect(summary.total).toBeGreaterThanOrEqual(1);
    expect(summary.byReason.map((row) => row.reason)).toContain("refused-422");
    const outcome = (await (await request("/admin/api/dead-letters/replay", { method: "POST", headers: ADMIN })).json()) as {
      replayed: number;
      remaining: number;
    };
    expect(outcome.replayed).toBeGreaterThanOrEqual(1);
    expect(outcome.remaining).toBe(0);
  });

  it("reports an experiment's counts and sample ratio check, 404 for unknown ones", async () => {
    await publishRules({
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' } },
      experiments: { ops_test: { variants: ["a", "b"], weights: [0.5, 0.5] } },
      rules: [{ id: "ops", experiment: { id: "ops_test", variants: { a: {}, b: { hero: { type: "setText", text: "B" } } } } }],
    });
    const stats = env.EXPERIMENT_STATS.getByName("ops_test");
    await stats.add([
      {
        delivery: "decisions:ops",
        updates: Array.from({ length: 60 }, (_, index) => ({
          id: `x${index}`,
          variant: index < 50 ? "a" : "b",
          trials: 1,
          successes: 0,
          conversions: 0,
          revenue: 0,
        })),
      },
    ]);
    const report = (await (await request("/admin/api/experiments/ops_test", { headers: ADMIN })).json()) as {
      variants: Record<string, { trials: number }>;
      srm: { flagged: boolean };
    };
    expect(report.variants.a?.trials).toBe(50);
    expect(report.srm.flagged).toBe(true);
    expect((await request("/admin/api/experiments/nope", { headers: ADMIN })).status).toBe(404);
  });
});
