/**
 * What an isolate reports for the guard: each visitor once per version and report, as failed once
 * if any of their pages failed, and at most `MAX_VISITORS_PER_VERSION` visitors remembered.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { countPage, MAX_VISITORS_PER_VERSION, takeCounts } from "../../../workers/decide/page-counts.ts";

const CLEAN = { fallbacks: [], originError: false, decideMs: 1 };
const FAILED = { fallbacks: ["model-missing:recs"], originError: false, decideMs: 1 };

function countsOf(version: number) {
  return takeCounts()?.versions.find((counts) => counts.version === version);
}

beforeEach(() => {
  takeCounts();
});

describe("page counts per visitor", () => {
  it.each([
    ["500 clean pages of one visitor", [["a", CLEAN, 500]], { pages: 500, failedPages: 0, visitors: 1, failedVisitors: 0 }],
    ["500 failed pages of one visitor", [["a", FAILED, 500]], { pages: 500, failedPages: 500, visitors: 1, failedVisitors: 1 }],
    [
      "one failed page among 499 clean ones",
      [
        ["a", CLEAN, 250],
        ["a", FAILED, 1],
        ["a", CLEAN, 249],
      ],
      { pages: 500, failedPages: 1, visitors: 1, failedVisitors: 1 },
    ],
    [
      "three visitors, one failing",
      [
        ["a", CLEAN, 10],
        ["b", FAILED, 10],
        ["c", CLEAN, 1],
      ],
      { pages: 21, failedPages: 10, visitors: 3, failedVisitors: 1 },
    ],
  ] as const)("count %s as the visitors, not the pages", (_label, views, expected) => {
    for (const [visitor, page, times] of views) for (let view = 0; view < times; view++) countPage(7, { visitor, ...page });
    expect(countsOf(7)).toMatchObject(expected);
  });

  it("count a visitor whose page fails while streaming as one failed visitor, however many pages fail", () => {
    const pages = Array.from({ length: 20 }, () => countPage(7, { visitor: "a", ...CLEAN }));
    for (const page of pages) page.actionFailed();
    expect(countsOf(7)).toMatchObject({ pages: 20, failedPages: 20, failedActions: 20, visitors: 1, failedVisitors: 1 });
  });

  it("count a visitor once per version", () => {
    countPage(7, { visitor: "a", ...CLEAN });
    countPage(8, { visitor: "a", ...FAILED });
    const report = takeCounts();
    expect(report?.versions.map(({ version, visitors, failedVisitors }) => ({ version, visitors, failedVisitors }))).toEqual([
      { version: 7, visitors: 1, failedVisitors: 0 },
      { version: 8, visitors: 1, failedVisitors: 1 },
    ]);
  });

  it("count the visitor again in the next report window", () => {
    countPage(7, { visitor: "a", ...CLEAN });
    expect(countsOf(7)).toMatchObject({ visitors: 1 });
    countPage(7, { visitor: "a", ...CLEAN });
    expect(countsOf(7)).toMatchObject({ visitors: 1 });
  });

  it("remember at most MAX_VISITORS_PER_VERSION visitors per window (their pages still count)", () => {
    const total = MAX_VISITORS_PER_VERSION + 50;
    for (let visitor = 0; visitor < total; visitor++) countPage(7, { visitor: `v${visitor}`, ...CLEAN });
    expect(countsOf(7)).toMatchObject({ pages: total, visitors: MAX_VISITORS_PER_VERSION });
  });
});
