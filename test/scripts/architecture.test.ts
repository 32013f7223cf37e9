/**
 * The layout of decision 0001 held by the imports themselves: a role folder under `workers/`
 * imports only `shared/`, `workers/common/`, `durable-objects/` (its bindings' types) and itself;
 * `shared/` is pure (no `workers/`, no `durable-objects/`) and its folders form no cycle, so each
 * can be read, tested and moved from the bottom up.
 *
 * Imports are found by a regex over the source lines (`import … from "…"`, `export … from "…"`,
 * `import "…"`, `import("…")`): the code base uses only these forms and relative specifiers.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Every `.ts`/`.tsx` file under `folder` (relative to the root), generated files included. */
function sourceFiles(folder: string): string[] {
  const entries = readdirSync(join(root, folder), { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

/** The root-relative files `file` imports by a relative specifier (packages are skipped). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  const targets: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1];
    if (specifier?.startsWith(".") !== true) continue;
    targets.push(relative(root, resolve(root, dirname(file), specifier)));
  }
  return targets;
}

/** The role folder a file belongs to (`workers/decide`), or null for `workers/common`, `workers/index.ts`… */
function roleOf(file: string): string | null {
  const match = /^workers\/([^/]+)\//.exec(file);
  const folder = match?.[1];
  return folder === undefined || folder === "common" ? null : `workers/${folder}`;
}

/** `shared/rules/x.ts` → `shared/rules`; a file directly in `shared/` is its own node. */
function sharedFolderOf(file: string): string {
  const parts = file.split("/");
  return parts.length > 2 ? parts.slice(0, 2).join("/") : file;
}

/** The folder cycles of a directed graph, each as `a → b → … → a` (one per strongly connected set). */
function cyclesOf(graph: Map<string, Set<string>>): string[] {
  const cycles: string[] = [];
  const reported = new Set<string>();
  for (const start of [...graph.keys()].sort()) {
    if (reported.has(start)) continue;
    // Breadth-first from start's successors back to start gives the shortest cycle through it.
    const previous = new Map<string, string>();
    const queue = [...(graph.get(start) ?? [])].sort();
    for (const node of queue) previous.set(node, start);
    let found = false;
    while (queue.length > 0 && !found) {
      const node = queue.shift() as string;
      if (node === start) {
        found = true;
        break;
      }
      for (const next of [...(graph.get(node) ?? [])].sort()) {
        if (previous.has(next)) continue;
        previous.set(next, node);
        queue.push(next);
      }
    }
    if (!found) continue;
    const path = [start];
    let node = previous.get(start);
    while (node !== undefined && node !== start) {
      path.unshift(node);
      node = previous.get(node);
    }
    path.unshift(start);
    for (const member of path) reported.add(member);
    cycles.push(path.join(" → "));
  }
  return cycles;
}

describe("architecture (decision 0001)", () => {
  it("a role folder imports no other role's folder", () => {
    const crossings: string[] = [];
    for (const file of sourceFiles("workers")) {
      const role = roleOf(file);
      if (role === null) continue;
      for (const target of importsOf(file)) {
        const targetRole = roleOf(target);
        if (targetRole !== null && targetRole !== role) crossings.push(`${file} → ${target}`);
      }
    }
    expect(crossings).toEqual([]);
  });

  it("workers/common imports no role folder", () => {
    const crossings = sourceFiles("workers/common").flatMap((file) =>
      importsOf(file)
        .filter((target) => roleOf(target) !== null)
        .map((target) => `${file} → ${target}`),
    );
    expect(crossings).toEqual([]);
  });

  it("shared/ imports nothing from workers/ or durable-objects/", () => {
    const impure = sourceFiles("shared").flatMap((file) =>
      importsOf(file)
        .filter((target) => !target.startsWith("shared/"))
        .map((target) => `${file} → ${target}`),
    );
    expect(impure).toEqual([]);
  });

  it("the folders of shared/ form no cycle", () => {
    const graph = new Map<string, Set<string>>();
    for (const file of sourceFiles("shared")) {
      const from = sharedFolderOf(file);
      for (const target of importsOf(file)) {
        const to = sharedFolderOf(target);
        if (!to.startsWith("shared/") || to === from) continue;
        const edges = graph.get(from) ?? new Set<string>();
        edges.add(to);
        graph.set(from, edges);
      }
    }
    expect(cyclesOf(graph)).toEqual([]);
  });

  it("the checks see the imports they are about (a role importing another would be found)", () => {
    // Guards the regex: if it stopped matching, every check above would pass vacuously.
    expect(importsOf("workers/index.ts").some((target) => roleOf(target) !== null)).toBe(true);
    expect(
      cyclesOf(
        new Map([
          ["a", new Set(["b"])],
          ["b", new Set(["a"])],
        ]),
      ),
    ).toEqual(["a → b → a"]);
    expect(
      cyclesOf(
        new Map([
          ["a", new Set(["b"])],
          ["b", new Set<string>()],
        ]),
      ),
    ).toEqual([]);
  });
});
