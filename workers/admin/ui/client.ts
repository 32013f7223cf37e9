/**
 * The web editor's browser script (served as `/admin/assets/admin.js`, built by
 * `npm run build:tracker` into `client.generated.ts`): validation as you type, preview, publish and
 * rollback, all through the admin API with the page's CSRF token.
 */

type Json = Record<string, unknown>;

interface Problem {
  pointer: string;
  message: string;
  severity: "error" | "warning";
}

const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; data: Json }> {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = (await response.json().catch(() => ({}))) as Json;
  return { status: response.status, data };
}

function setStatus(text: string, kind: "ok" | "error" | "" = ""): void {
  const status = document.getElementById("status");
  if (status) {
    status.textContent = text;
    status.className = `status ${kind}`;
  }
}

function field<T extends HTMLElement = HTMLInputElement>(form: HTMLElement, name: string): T | null {
  return form.querySelector<T>(`[name="${name}"]`);
}

function value(form: HTMLElement, name: string): string {
  return (field<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>(form, name)?.value ?? "").trim();
}

function typed(raw: string): unknown {
  if (raw !== "" && !Number.isNaN(Number(raw))) return Number(raw);
  if (raw === "true" || raw === "false") return raw === "true";
  return raw;
}

/** Shows each problem next to the field whose pointer it falls under, the rest at the top. */
function showProblems(problems: Problem[]): void {
  for (const old of document.querySelectorAll(".problem")) old.remove();
  const general = document.getElementById("general-problems");
  const fields = [...document.querySelectorAll<HTMLElement>("[data-pointer]")];
  for (const problem of problems) {
    const home = fields
      .filter((element) => problem.pointer === element.dataset.pointer || problem.pointer.startsWith(`${element.dataset.pointer}/`))
      .sort((a, b) => (b.dataset.pointer?.length ?? 0) - (a.dataset.pointer?.length ?? 0))[0];
    const note = document.createElement("p");
    note.className = `problem ${problem.severity}`;
    note.textContent = home === undefined ? `${problem.pointer}: ${problem.message}` : problem.message;
    (home ?? general)?.append(note);
  }
}

function debounce(work: () => void, milliseconds: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(work, milliseconds);
  };
}

/* ---------- rule editor ---------- */

function liveDocument(): { version: number | null; document: Json | null } {
  const raw = document.getElementById("live-document")?.textContent ?? "{}";
  return JSON.parse(raw) as { version: number | null; document: Json | null };
}

function conditionFrom(form: HTMLElement): Json | { error: string } {
  const box = document.getElementById("condition-json-box") as HTMLDetailsElement | null;
  const rows = [...form.querySelectorAll<HTMLElement>(".condition-row")];
  if (box?.open) {
    try {
      return JSON.parse(value(form, "condition-json") || "{}") as Json;
    } catch (error) {
      return { error: `The condition is not valid JSON: ${(error as Error).message}` };
    }
  }
  const condition: Json = {};
  for (const row of rows) {
    const attribute = value(row, "attribute");
    const operator = value(row, "operator");
    const raw = value(row, "value");
    const tests = (condition[attribute] as Json | undefined) ?? {};
    tests[operator] = operator === "$in" ? raw.split(",").map((item) => typed(item.trim())) : typed(raw);
    condition[attribute] = tests;
  }
  return condition;
}

function ruleFrom(form: HTMLElement, original: Json | undefined): Json | { error: string } {
  const condition = conditionFrom(form);
  if ("error" in condition && typeof condition.error === "string" && Object.keys(condition).length === 1) return { error: condition.error };
  const rule: Json = {
    ...(original ?? {}),
    id: value(form, "id"),
    priority: Number(value(form, "priority") || "0"),
    pages: value(form, "pages")
      .split(",")
      .map((page) => page.trim())
      .filter((page) => page !== ""),
    condition,
  };
  const description = value(form, "description");
  if (description === "") delete rule.description;
  else rule.description = description;
  const start = value(form, "start");
  const end = value(form, "end");
  if (start === "" && end === "") delete rule.schedule;
  else
    rule.schedule = {
      ...(start === "" ? {} : { start: new Date(start).toISOString() }),
      ...(end === "" ? {} : { end: new Date(end).toISOString() }),
    };
  if (original?.experiment === undefined) {
    const actions: Json = {};
    for (const slot of form.querySelectorAll<HTMLElement>(".slot")) {
      const name = slot.dataset.slot ?? "";
      const type = value(slot, `action-${name}`);
      const content = field<HTMLTextAreaElement>(slot, `content-${name}`)?.value ?? "";
      if (type === "") continue;
      // An action the form cannot edit (recommendations, attributes...) is kept as it was.
      const kept = (original?.actions as Json | undefined)?.[name];
      if (type === "__keep__") {
        if (kept !== undefined) actions[name] = kept;
        continue;
      }
      actions[name] = type === "remove" ? { type } : type === "setText" ? { type, text: content } : { type, html: content };
    }
    rule.actions = actions;
  }
  return rule;
}

function draftDocument(form: HTMLElement, editor: HTMLElement): Json | { error: string } {
  const { document: live } = liveDocument();
  const base = JSON.parse(JSON.stringify(live ?? { slots: {}, rules: [] })) as Json & { rules: Json[] };
  const originalId = editor.dataset.originalId ?? "";
  const index = base.rules.findIndex((rule) => rule.id === originalId);
  const rule = ruleFrom(form, index >= 0 ? base.rules[index] : undefined);
  if ("error" in rule && typeof rule.error === "string") return { error: rule.error };
  if (index >= 0) base.rules[index] = rule;
  else base.rules.push(rule);
  const mirror = field<HTMLTextAreaElement>(form, "rule-json");
  if (mirror) mirror.value = JSON.stringify(rule, null, 2);
  return base;
}

function startRuleEditor(editor: HTMLElement): void {
  const form = document.getElementById("rule-form") as HTMLFormElement;
  const validate = async (): Promise<Problem[] | null> => {
    const draft = draftDocument(form, editor);
    if ("error" in draft && typeof draft.error === "string") {
      showProblems([{ pointer: "/condition", message: draft.error, severity: "error" }]);
      return null;
    }
    const { data } = await api("POST", "/admin/api/rules/validate", { document: draft });
    const problems = (data.problems as Problem[] | undefined) ?? [];
    showProblems(problems);
    return problems;
  };
  const validateSoon = debounce(() => void validate(), 300);
  form.addEventListener("input", validateSoon);
  form.addEventListener("change", validateSoon);

  document.getElementById("add-condition")?.addEventListener("click", () => {
    const container = document.getElementById("conditions");
    const template = container?.querySelector(".condition-row");
    const row = template ? (template.cloneNode(true) as HTMLElement) : null;
    if (row === null) {
      // No row to copy: open the JSON box instead.
      (document.getElementById("condition-json-box") as HTMLDetailsElement).open = true;
      return;
    }
    for (const input of row.querySelectorAll("input")) input.value = "";
    container?.append(row);
    validateSoon();
  });
  form.addEventListener("click", (event) => {
    const target = event.target as HTMLElement;
    if (target.classList.contains("remove-row")) {
      target.closest(".condition-row")?.remove();
      validateSoon();
    }
  });

  document.getElementById("preview")?.addEventListener("click", async () => {
    const draft = draftDocument(form, editor);
    if ("error" in draft && typeof draft.error === "string") return;
    const select = document.getElementById("sample-visitor") as HTMLSelectElement;
    const attributes = JSON.parse(select.selectedOptions[0]?.dataset.attributes ?? "{}") as Json;
    const { status, data } = await api("POST", "/admin/api/preview", { document: draft, visitor: { attributes } });
    const list = document.getElementById("preview-decisions");
    if (list) list.textContent = "";
    if (status !== 200) {
      showProblems(
        (data.problems as Problem[] | undefined) ?? [{ pointer: "/", message: String(data.detail ?? "Preview failed"), severity: "error" }],
      );
      return;
    }
    for (const slot of (data.slots as { slot: string; ruleId: string }[]) ?? []) {
      const item = document.createElement("li");
      item.textContent = `${slot.slot}: rule “${slot.ruleId}”`;
      list?.append(item);
    }
    if (((data.slots as unknown[]) ?? []).length === 0 && list) list.textContent = "No rule applies: the page shows its default content.";
    const frame = document.getElementById("preview-frame") as HTMLIFrameElement;
    frame.srcdoc = String(data.html ?? "").replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, "");
  });

  document.getElementById("publish")?.addEventListener("click", async () => {
    const problems = await validate();
    if (problems === null || problems.some((problem) => problem.severity === "error")) {
      setStatus("Fix the errors marked in red before publishing.", "error");
      return;
    }
    const draft = draftDocument(form, editor);
    const message = value(form, "message") || `Edited rule ${value(form, "id")}`;
    const { status, data } = await api("POST", "/admin/api/rules", { document: draft, message });
    if (status === 201) {
      setStatus(`Published as version ${String(data.version)}. Visitors see it within seconds.`, "ok");
      editor.dataset.originalId = value(form, "id");
      const live = document.getElementById("live-document");
      if (live) live.textContent = JSON.stringify({ version: data.version, document: draft });
    } else {
      showProblems((data.problems as Problem[] | undefined) ?? []);
      setStatus(String(data.detail ?? "Publishing failed."), "error");
    }
  });
  void validate();
}

/* ---------- versions ---------- */

function startVersions(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("button.rollback")) {
    button.addEventListener("click", async () => {
      const version = Number(button.dataset.version);
      if (!confirm(`Make version ${version} live again?`)) return;
      const { status, data } = await api("POST", "/admin/api/rules/rollback", { version });
      if (status === 200) {
        setStatus(`Version ${version} is live again.`, "ok");
        setTimeout(() => location.reload(), 500);
      } else {
        setStatus(String(data.detail ?? "Rollback failed."), "error");
      }
    });
  }
}

/* ---------- whole document as JSON ---------- */

function startJsonEditor(textarea: HTMLTextAreaElement): void {
  const parse = (): Json | null => {
    try {
      return JSON.parse(textarea.value) as Json;
    } catch (error) {
      showProblems([{ pointer: "/", message: `Not valid JSON: ${(error as Error).message}`, severity: "error" }]);
      return null;
    }
  };
  const validate = async (): Promise<boolean> => {
    const draft = parse();
    if (draft === null) return false;
    const { data } = await api("POST", "/admin/api/rules/validate", { document: draft });
    const problems = (data.problems as Problem[] | undefined) ?? [];
    showProblems(problems);
    return !problems.some((problem) => problem.severity === "error");
  };
  textarea.addEventListener(
    "input",
    debounce(() => void validate(), 400),
  );
  document.getElementById("publish-json")?.addEventListener("click", async () => {
    if (!(await validate())) {
      setStatus("Fix the errors before publishing.", "error");
      return;
    }
    const message = (document.getElementById("json-message") as HTMLInputElement).value || "Edited as JSON";
    const percent = (document.getElementById("json-rollout-percent") as HTMLInputElement | null)?.value ?? "";
    const minutes = (document.getElementById("json-rollout-minutes") as HTMLInputElement | null)?.value ?? "15";
    const rollout = percent === "" ? {} : { rollout: { percent: Number(percent), minutes: Number(minutes) } };
    const { status, data } = await api("POST", "/admin/api/rules", { document: parse(), message, ...rollout });
    const rolling = data.rollout as { percent: number; endsAt: string } | null | undefined;
    setStatus(
      status !== 201
        ? String(data.detail ?? "Publishing failed.")
        : rolling
          ? `Version ${String(data.version)} is rolling out to ${rolling.percent}% of visitors until ${rolling.endsAt}; rolled back automatically if worse.`
          : `Published as version ${String(data.version)}.`,
      status === 201 ? "ok" : "error",
    );
  });
  void validate();
}

/* ---------- QA preview links ---------- */

/** "Copy preview link" buttons on the dashboard: one per experiment variant. */
function startPreviewLinks(buttons: NodeListOf<HTMLButtonElement>): void {
  for (const button of buttons) {
    button.addEventListener("click", async () => {
      const experiment = button.dataset.experiment ?? "";
      const variant = button.dataset.variant ?? "";
      const path = button.dataset.path ?? "/";
      const { status, data } = await api("POST", "/admin/api/preview-links", {
        forced: { [experiment]: variant },
        path,
        ttlMinutes: 60 * 24,
      });
      if (status !== 201) {
        setStatus(String(data.detail ?? "The preview link could not be made."), "error");
        return;
      }
      const url = String(data.url);
      const output = document.getElementById("preview-link") as HTMLInputElement | null;
      if (output) output.value = url;
      const copied = await navigator.clipboard?.writeText(url).then(
        () => true,
        () => false,
      );
      setStatus(
        `${copied ? "Copied" : "Made"} a preview link for ${experiment} = ${variant} on ${path}, valid until ${String(data.expiresAt)}.`,
        "ok",
      );
    });
  }
}

/* ---------- guardrails: kill switch and pause ---------- */

function startGuardrails(): void {
  document.querySelector<HTMLButtonElement>("button.kill-switch")?.addEventListener("click", async (event) => {
    const enabled = (event.currentTarget as HTMLButtonElement).dataset.enabled === "true";
    const reason = prompt(enabled ? "Why stop all personalization? (for the audit log)" : "Why turn personalization back on?");
    if (reason === null || reason.trim() === "") return;
    const { status, data } = await api("POST", "/admin/api/kill-switch", { enabled, reason });
    if (status !== 200) return setStatus(String(data.detail ?? "The kill switch did not change."), "error");
    setStatus(enabled ? "Kill switch on: pages pass through untouched within seconds." : "Personalization is back on.", "ok");
    setTimeout(() => location.reload(), 500);
  });
  for (const button of document.querySelectorAll<HTMLButtonElement>("button.pause")) {
    button.addEventListener("click", async () => {
      const paused = button.dataset.paused === "true";
      const reason = prompt(`Why ${paused ? "pause" : "resume"} ${button.dataset.kind ?? ""} ${button.dataset.id ?? ""}?`);
      if (reason === null || reason.trim() === "") return;
      const { status, data } = await api("POST", "/admin/api/rules/pause", {
        kind: button.dataset.kind,
        id: button.dataset.id,
        paused,
        reason,
      });
      if (status !== 200) return setStatus(String(data.detail ?? "Not changed."), "error");
      setStatus(`${paused ? "Paused" : "Resumed"} in version ${String(data.version)}.`, "ok");
      setTimeout(() => location.reload(), 500);
    });
  }
}

function start(): void {
  if (document.getElementById("guardrails")) startGuardrails();
  const previewButtons = document.querySelectorAll<HTMLButtonElement>("button.preview-link");
  if (previewButtons.length > 0) startPreviewLinks(previewButtons);
  const editor = document.querySelector<HTMLElement>(".editor");
  if (editor) startRuleEditor(editor);
  if (document.querySelector("button.rollback")) startVersions();
  const json = document.getElementById("document-json") as HTMLTextAreaElement | null;
  if (json) startJsonEditor(json);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();

export {};
