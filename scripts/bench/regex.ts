/**
 * What the regex guard buys, in one run:
 *
 * (a) how long known catastrophic patterns take unguarded (`new RegExp(p).test(input)` in Node) on
 *     hostile inputs of growing size. Each pattern runs in a child process that is killed after
 *     its budget, so a pattern that never finishes is reported as "> budget" at the size it hung on;
 * (b) that Tailor's validation (`checkRegex`, which `validateDocument` runs at publish and at load)
 *     refuses each of them;
 * (c) the worst time to compile and evaluate a condition with an accepted pattern on hostile inputs
 *     of 1,024 to 100,000 characters, against a plain `$eq` condition on the same input, as a ratio.
 *
 *   npm run bench:regex
 */
import { spawn } from "node:child_process";
import { compileCondition } from "../../shared/rules/condition.ts";
import { checkRegex } from "../../shared/rules/regex-safety.ts";
import { EVERYDAY_PATTERNS } from "../../test/support/everyday-patterns.ts";
import { formatNumber, median } from "./stats.ts";

/** Per catastrophic pattern, wall-clock budget for the unguarded child (all sizes together). */
const BUDGET_MS = 2_000;

interface Hostile {
  pattern: string;
  /** The input is `prefix + pump.repeat(n) + suffix`, for growing n. */
  prefix: string;
  pump: string;
  suffix: string;
}

const CATASTROPHIC: Hostile[] = [
  { pattern: "^((a+))+$", prefix: "", pump: "a", suffix: "!" },
  { pattern: "^(?:a|a?)+$", prefix: "", pump: "a", suffix: "!" },
  { pattern: "^(a|aa)+$", prefix: "", pump: "a", suffix: "!" },
  { pattern: "^(\\w|\\d)+$", prefix: "", pump: "1", suffix: "!" },
  { pattern: "^(a?){30}a{30}$", prefix: "", pump: "a", suffix: "" },
  // Unanchored, `(.*a){12}` succeeds on any line with 12 a's; the `$` and the "!" make it fail slowly.
  { pattern: "(.*a){12}$", prefix: "", pump: "a", suffix: "!" },
  { pattern: "^(a+)+b", prefix: "", pump: "a", suffix: "!" },
  { pattern: "(x+x+)+y", prefix: "", pump: "x", suffix: "" },
  {
    pattern: "^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$",
    prefix: "a",
    pump: "a",
    suffix: "!",
  },
  { pattern: "(a|\\1)+$", prefix: "", pump: "a", suffix: "!" },
  // Refused although no input makes it fail (anything matches [\s\S]); the next line can fail.
  { pattern: "^([\\s\\S]|a)+$", prefix: "", pump: "a", suffix: "\n" },
  { pattern: "^([\\s\\S]|a)+!$", prefix: "", pump: "a", suffix: "" },
  { pattern: "^(\\d|[0-9])+$", prefix: "", pump: "1", suffix: "!" },
  { pattern: "(a{1,30}){1,30}$", prefix: "", pump: "a", suffix: "!" },
  { pattern: "a.*b.*c", prefix: "", pump: "ab", suffix: "" },
  { pattern: "\\d+\\d+\\d+x", prefix: "", pump: "1", suffix: "" },
];

/** Runs one pattern unguarded in a child, sizes doubling (linear steps for small ones), until the budget is spent. */
function unguarded(hostile: Hostile): Promise<{ size: number; ms: number; finished: boolean }> {
  const child = `
    const [pattern, prefix, pump, suffix] = JSON.parse(process.argv[1]);
    const regex = new RegExp(pattern);
    let n = 4;
    for (;;) {
      const input = prefix + pump.repeat(n) + suffix;
      process.stdout.write(JSON.stringify({ size: input.length, started: true }) + "\\n");
      const start = performance.now();
      regex.test(input);
      const ms = performance.now() - start;
      process.stdout.write(JSON.stringify({ size: input.length, ms }) + "\\n");
      if (ms > ${BUDGET_MS / 4} || input.length > 1_000_000) break;
      n = n < 32 ? n + 2 : n * 2;
    }`;
  return new Promise((resolve) => {
    const started = Date.now();
    const process_ = spawn(
      process.execPath,
      ["-e", child, JSON.stringify([hostile.pattern, hostile.prefix, hostile.pump, hostile.suffix])],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let last = { size: 0, ms: 0, finished: true };
    let pending = 0;
    let buffered = "";
    process_.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const record = JSON.parse(line) as { size: number; ms?: number };
        if (record.ms === undefined) pending = record.size;
        else last = { size: record.size, ms: record.ms, finished: true };
      }
    });
    const timer = setTimeout(() => process_.kill("SIGKILL"), BUDGET_MS);
    process_.on("exit", () => {
      clearTimeout(timer);
      // Killed mid-run: the size it was on took longer than what was left of the budget.
      if (pending > last.size) resolve({ size: pending, ms: Date.now() - started, finished: false });
      else resolve(last);
    });
  });
}

const HOSTILE_INPUTS = [1_024, 4_096, 100_000].flatMap((length) =>
  ["a", "foo", "utm_a", "/c/a", "de-", "http://www.example.co", "1", " ", "summer-", "black "].map((pump) =>
    pump.repeat(Math.ceil(length / pump.length)).slice(0, length),
  ),
);

/** Median microseconds per compile + evaluate (or evaluate only) of `condition` over every hostile input. */
function decisionTime(condition: Record<string, unknown>, compileEach: boolean): number {
  const rounds: number[] = [];
  const compiled = compileCondition(condition);
  for (let round = 0; round < 9; round++) {
    const start = performance.now();
    for (let repeat = 0; repeat < 20; repeat++) {
      for (const value of HOSTILE_INPUTS) (compileEach ? compileCondition(condition) : compiled)({ utm: { source: value } });
    }
    rounds.push(((performance.now() - start) * 1_000) / (20 * HOSTILE_INPUTS.length));
  }
  return median(rounds);
}

console.log(`(a) unguarded new RegExp(p).test(input) in Node ${process.version}, ${BUDGET_MS} ms budget per pattern`);
console.log(`(b) Tailor's validation (checkRegex, run by validateDocument at publish and at load)\n`);
let allRefused = true;
for (const hostile of CATASTROPHIC) {
  const run = await unguarded(hostile);
  const checked = checkRegex(hostile.pattern, "");
  if (checked.ok) allRefused = false;
  const time = run.finished ? `${formatNumber(run.ms)} ms` : `> ${formatNumber(BUDGET_MS)} ms (killed)`;
  const verdict = checked.ok
    ? "ACCEPTED (!)"
    : `refused: ${checked.error.replace(/^the regular expression (could backtrack catastrophically: )?/, "").slice(0, 90)}…`;
  console.log(
    `${hostile.pattern.length > 40 ? `${hostile.pattern.slice(0, 37)}...` : hostile.pattern}`.padEnd(42),
    `${run.size} chars`.padStart(12),
    time.padStart(24),
    " ",
    verdict,
  );
}
console.log(allRefused ? "\nall refused by Tailor's validation" : "\nSOME PATTERNS WERE ACCEPTED");

console.log(`\n(c) per decision, on ${HOSTILE_INPUTS.length} hostile inputs of 1,024-100,000 characters (values are cut to 1,024)`);
console.log(`${"".padEnd(42)} ${"compile + evaluate".padStart(20)} ${"evaluate only".padStart(16)}`);
const plain = { "utm.source": { $eq: "google" } };
// Warm up the compiler and the JIT on every condition first, so the baseline is not measured cold.
for (const pattern of EVERYDAY_PATTERNS) decisionTime({ "utm.source": { $regex: pattern } }, true);
decisionTime(plain, true);
const baseline = { compiled: decisionTime(plain, true), evaluated: decisionTime(plain, false) };
let worst = { pattern: "", compiled: 0, evaluated: 0 };
for (const pattern of EVERYDAY_PATTERNS) {
  if (!checkRegex(pattern, "").ok) throw new Error(`${pattern} should be accepted`);
  const condition = { "utm.source": { $regex: pattern } };
  const compiled = decisionTime(condition, true);
  const evaluated = decisionTime(condition, false);
  console.log(`${pattern.padEnd(42)} ${`${formatNumber(compiled)} µs`.padStart(20)} ${`${formatNumber(evaluated)} µs`.padStart(16)}`);
  if (compiled > worst.compiled) worst = { pattern, compiled, evaluated: Math.max(worst.evaluated, evaluated) };
  else worst.evaluated = Math.max(worst.evaluated, evaluated);
}
console.log(
  `${"plain $eq (baseline)".padEnd(42)} ${`${formatNumber(baseline.compiled)} µs`.padStart(20)} ${`${formatNumber(baseline.evaluated)} µs`.padStart(16)}`,
);
console.log(
  `\nworst accepted regex / plain $eq: compile + evaluate ${formatNumber(worst.compiled / baseline.compiled)}x (${worst.pattern}), evaluate only ${formatNumber(worst.evaluated / baseline.evaluated)}x`,
);
