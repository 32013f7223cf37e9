/**
 * Tailor's browser tracker, served at `/t.js`. No dependencies; built and minified into
 * `tracker.generated.ts` by `npm run build:tracker`.
 *
 * On single-page-app navigations it also asks `/v1/decide` for the new path and applies the slot
 * changes in the DOM, so client-rendered pages get the same personalization as server-rendered ones.
 *
 * Sends Segment-style `page` calls on load and on History API navigations, `Product Viewed` for an
 * element marked `data-track-view`, `Product Clicked` / `Product Added` from the shop's data
 * attributes, `Promotion Clicked` for clicks inside a personalized slot (`data-p13n-rule`), and
 * whatever the page sends through `tailor.track()` / `tailor.identify()`. Events are batched and
 * sent with `navigator.sendBeacon`, falling back to `fetch` with `keepalive`.
 *
 * Privacy: with `data-consent="required"` on the script tag nothing is sent until the page calls
 * `tailor.consent(true)`; Global Privacy Control and Do Not Track stop all sending unless the site
 * opts out of honouring them with `data-gpc="ignore"` / `data-dnt="ignore"`.
 */

type Properties = Record<string, unknown>;
type Call = [method: string, ...args: unknown[]];

interface Message {
  type: "page" | "track" | "identify";
  messageId: string;
  timestamp: string;
  event?: string;
  userId?: string;
  properties?: Properties;
  traits?: Properties;
  context: { page: { path: string; search: string; title: string; referrer: string }; tailor?: { identity: string } };
}

interface TailorApi {
  track(event: string, properties?: Properties): void;
  /** `proof` is the identity proof the site's server signed for `userId`; without it nothing is linked. */
  identify(userId: string, traits?: Properties, proof?: string): void;
  page(properties?: Properties): void;
  consent(granted: boolean): void;
  flush(): void;
}

declare global {
  interface Window {
    tailor?: TailorApi | Call[];
  }
  interface Navigator {
    globalPrivacyControl?: boolean;
  }
}

const script = document.currentScript as HTMLScriptElement | null;
const setting = (name: string, fallback: string): string => script?.getAttribute(`data-${name}`) ?? fallback;
const endpoint = setting("endpoint", "/v1/events");
const CONSENT_KEY = "tailor_consent";

const blockedBySignal =
  (setting("gpc", "honor") !== "ignore" && navigator.globalPrivacyControl === true) ||
  (setting("dnt", "honor") !== "ignore" && navigator.doNotTrack === "1");

let consented = setting("consent", "not-required") !== "required" || readConsent();
let queue: Message[] = [];
let timer: ReturnType<typeof setTimeout> | undefined;
let lastPath = "";

function readConsent(): boolean {
  try {
    return localStorage.getItem(CONSENT_KEY) === "granted";
  } catch {
    return false;
  }
}

function messageId(): string {
  return typeof crypto.randomUUID === "function" ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

function enqueue(partial: Omit<Message, "messageId" | "timestamp" | "context">, identity?: string): void {
  if (blockedBySignal) return;
  const page = { path: location.pathname, search: location.search, title: document.title, referrer: document.referrer };
  queue.push({
    ...partial,
    messageId: messageId(),
    timestamp: new Date().toISOString(),
    context: identity === undefined ? { page } : { page, tailor: { identity } },
  });
  if (!consented) return;
  if (queue.length >= 20) flush();
  else if (timer === undefined) timer = setTimeout(flush, 400);
}

function flush(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  if (!consented || blockedBySignal || queue.length === 0) return;
  const body = JSON.stringify({ batch: queue });
  queue = [];
  const beacon =
    typeof navigator.sendBeacon === "function" && navigator.sendBeacon(endpoint, new Blob([body], { type: "application/json" }));
  if (!beacon) {
    fetch(endpoint, {
      method: "POST",
      body,
      keepalive: true,
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
    }).catch(() => {});
  }
}

/** Product properties from the nearest element carrying `data-product-id`. */
function productOf(element: Element | null): Properties | undefined {
  const product = element?.closest<HTMLElement>("[data-product-id]");
  if (!product) return undefined;
  const { productId, category, price, productName } = product.dataset;
  return {
    product_id: productId,
    ...(category === undefined ? {} : { category }),
    ...(price === undefined || Number.isNaN(Number(price)) ? {} : { price: Number(price) }),
    ...(productName === undefined ? {} : { name: productName }),
  };
}

interface SlotDecision {
  selector: string;
  ruleId: string;
  slot: string;
  experiment: string | null;
  variant: string | null;
  action: { type: string; text?: string; html?: string; name?: string; value?: string; className?: string; id?: string; data?: unknown };
}

/** Applies one slot decision from `/v1/decide` the way the edge rewriter would. */
function applySlot({ selector, ruleId, slot, experiment, variant, action }: SlotDecision): void {
  for (const element of document.querySelectorAll(selector)) {
    element.setAttribute("data-p13n-rule", ruleId);
    element.setAttribute("data-p13n-slot", slot);
    if (experiment !== null) element.setAttribute("data-p13n-experiment", experiment);
    if (variant !== null) element.setAttribute("data-p13n-variant", variant);
    const html = action.html ?? "";
    switch (action.type) {
      case "setText":
        element.textContent = action.text ?? "";
        break;
      case "setHtml":
        element.innerHTML = html;
        break;
      case "replace":
        element.outerHTML = html;
        break;
      case "before":
      case "after":
        element.insertAdjacentHTML(action.type === "before" ? "beforebegin" : "afterend", html);
        break;
      case "prepend":
      case "append":
        element.insertAdjacentHTML(action.type === "prepend" ? "afterbegin" : "beforeend", html);
        break;
      case "remove":
        element.remove();
        break;
      case "setAttribute":
        element.setAttribute(action.name ?? "", action.value ?? "");
        break;
      case "removeAttribute":
        element.removeAttribute(action.name ?? "");
        break;
      case "addClass":
      case "removeClass":
        element.classList.toggle(action.className ?? "", action.type === "addClass");
        break;
      case "injectJson": {
        const script = document.createElement("script");
        script.type = "application/json";
        script.id = action.id ?? "";
        script.textContent = JSON.stringify(action.data);
        element.append(script);
        break;
      }
    }
  }
}

function personalize(): void {
  if (blockedBySignal) return;
  fetch(`/v1/decide?path=${encodeURIComponent(location.pathname + location.search)}`, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : { slots: [] }))
    .then((decision: { slots?: SlotDecision[] }) => {
      for (const slot of decision.slots ?? []) applySlot(slot);
    })
    .catch(() => {});
}

function trackPage(navigated = false): void {
  const here = location.pathname + location.search;
  if (here === lastPath) return;
  lastPath = here;
  if (navigated) personalize();
  enqueue({ type: "page" });
  for (const element of document.querySelectorAll<HTMLElement>("[data-track-view]")) {
    const event = element.dataset.trackView;
    if (event) enqueue({ type: "track", event, properties: productOf(element) ?? {} });
  }
}

function onClick(clickEvent: MouseEvent): void {
  const target = clickEvent.target instanceof Element ? clickEvent.target : null;
  if (!target) return;
  const slot = target.closest<HTMLElement>("[data-p13n-rule]");
  if (slot) {
    enqueue({
      type: "track",
      event: "Promotion Clicked",
      properties: {
        promotion_id: slot.dataset.p13nRule,
        position: slot.dataset.p13nSlot ?? slot.dataset.slot,
        ...(slot.dataset.p13nVariant === undefined ? {} : { creative: slot.dataset.p13nVariant }),
        ...(slot.dataset.p13nExperiment === undefined ? {} : { experiment: slot.dataset.p13nExperiment }),
      },
    });
  }
  const addToCart = target.closest("[data-add-to-cart]");
  if (addToCart) {
    enqueue({ type: "track", event: "Product Added", properties: { quantity: 1, ...productOf(addToCart) } });
    flush();
    return;
  }
  if (target.closest("a[href]")) {
    const product = productOf(target);
    if (product) enqueue({ type: "track", event: "Product Clicked", properties: product });
    flush();
  }
}

const api: TailorApi = {
  track: (event, properties = {}) => enqueue({ type: "track", event, properties }),
  identify: (userId, traits = {}, proof) => enqueue({ type: "identify", userId, traits }, typeof proof === "string" ? proof : undefined),
  page: () => {
    lastPath = "";
    trackPage(true);
  },
  consent: (granted) => {
    consented = granted;
    try {
      localStorage.setItem(CONSENT_KEY, granted ? "granted" : "denied");
    } catch {
      // Storage may be disabled; consent then lasts for this page only.
    }
    if (granted) flush();
    else queue = [];
  },
  flush,
};

function start(): void {
  const pending = Array.isArray(window.tailor) ? window.tailor : [];
  window.tailor = api;
  for (const [method, ...args] of pending) {
    const call = api[method as keyof TailorApi] as ((...callArgs: unknown[]) => void) | undefined;
    call?.(...args);
  }
  trackPage();
  for (const method of ["pushState", "replaceState"] as const) {
    const original = history[method];
    history[method] = function (this: History, ...args: Parameters<History["pushState"]>) {
      original.apply(this, args);
      trackPage(true);
    };
  }
  addEventListener("popstate", () => trackPage(true));
  addEventListener("click", onClick, true);
  addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush();
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();

export {};
