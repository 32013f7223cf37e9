/**
 * The attributes a request brings to the decision, named for marketers:
 *
 * | attribute | from |
 * | --- | --- |
 * | `page.path`, `page.query.<name>` | the URL |
 * | `utm.source`, `utm.medium`, `utm.campaign`, `utm.term`, `utm.content` | UTM parameters |
 * | `referrer.host`, `referrer.url` | the `Referer` header |
 * | `geo.country`, `geo.region`, `geo.region_code`, `geo.city`, `geo.continent`, `geo.postal_code`, `geo.timezone`, `geo.eu` | `request.cf` |
 * | `device.type` (`mobile` `tablet` `desktop` `bot`), `device.browser`, `device.os` | the `User-Agent` |
 * | `language`, `languages` | `Accept-Language` (primary subtags, lower case) |
 * | `time.hour`, `time.weekday` (`mon`..`sun`), `time.date` | the clock, in the visitor's time zone |
 * | `visitor.new` | no visitor cookie yet |
 *
 * Only the groups the live rules read are computed: `request.cf` is parsed on each access and local
 * time needs an `Intl` call, so a request whose rules do not use them pays nothing for them.
 * @module
 */
import { LruCache } from "../../shared/lru.ts";
import type { AttributeTree } from "../../shared/profile/behavior.ts";

/** Crawlers, link previewers and uptime monitors, by their self-declared user agents. */
const BOT =
  /bot\b|bot\/|crawl|spider|slurp|facebookexternalhit|embedly|quora link preview|whatsapp|web preview|lighthouse|pingdom|uptimerobot|statuscake/i;

/**
 * Crawlers, link previewers and monitors get the default page and write no state. (Scripts such
 * as curl are not counted as bots: they are how people try Tailor out.) Judged by the user agent
 * alone: reading `request.cf` costs a parse of the whole object on every request.
 */
export function isBot(request: Request): boolean {
  return classify(request.headers.get("user-agent") ?? "").type === "bot";
}

/** Speculative loads (`Sec-Purpose: prefetch`, `Purpose: prefetch`): the visitor may never see them. */
export function isPrefetch(request: Request): boolean {
  const purpose = `${request.headers.get("sec-purpose") ?? ""} ${request.headers.get("purpose") ?? ""} ${request.headers.get("x-moz") ?? ""}`;
  return /prefetch|prerender/i.test(purpose);
}

/** User agents repeat: classify each once per isolate. */
const devices = new LruCache<string, Device>(1_000);

interface Device {
  type: string;
  browser: string;
  os: string;
}

function classify(agent: string): Device {
  let device = devices.get(agent);
  if (device === undefined) {
    device = deviceOf(agent);
    devices.set(agent, device);
  }
  return device;
}

function deviceOf(agent: string): Device {
  const type = BOT.test(agent)
    ? "bot"
    : /ipad|tablet|(android(?!.*mobile))/i.test(agent)
      ? "tablet"
      : /mobi|iphone|ipod|android|phone/i.test(agent)
        ? "mobile"
        : "desktop";
  const browser = /edg\//i.test(agent)
    ? "edge"
    : /opr\/|opera/i.test(agent)
      ? "opera"
      : /samsungbrowser/i.test(agent)
        ? "samsung"
        : /firefox|fxios/i.test(agent)
          ? "firefox"
          : /chrome|crios|chromium/i.test(agent)
            ? "chrome"
            : /safari/i.test(agent)
              ? "safari"
              : "other";
  const os = /iphone|ipad|ipod|ios/i.test(agent)
    ? "ios"
    : /android/i.test(agent)
      ? "android"
      : /windows/i.test(agent)
        ? "windows"
        : /mac os x|macintosh/i.test(agent)
          ? "macos"
          : /linux/i.test(agent)
            ? "linux"
            : "other";
  return { type, browser, os };
}

function languagesOf(header: string | null): string[] {
  if (header === null) return [];
  return header
    .split(",")
    .map((part) => {
      const [tag = "", ...parameters] = part.trim().split(";");
      const quality = Number(
        parameters
          .find((parameter) => parameter.trim().startsWith("q="))
          ?.trim()
          .slice(2) ?? "1",
      );
      return { language: tag.trim().split("-")[0]?.toLowerCase() ?? "", quality: Number.isFinite(quality) ? quality : 0 };
    })
    .filter(({ language, quality }) => /^[a-z]{2,3}$/.test(language) && quality > 0)
    .sort((a, b) => b.quality - a.quality)
    .map(({ language }) => language)
    .filter((language, index, all) => all.indexOf(language) === index)
    .slice(0, 10);
}

const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(now: number, timeZone: string | undefined): { hour: number; weekday: string; date: string } {
  const zone = timeZone ?? "UTC";
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    const options: Intl.DateTimeFormatOptions = {
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      weekday: "short",
    };
    try {
      formatter = new Intl.DateTimeFormat("en-US", { ...options, timeZone: zone });
    } catch {
      // An unknown zone name: decide in UTC rather than fail.
      formatter = new Intl.DateTimeFormat("en-US", { ...options, timeZone: "UTC" });
    }
    formatters.set(zone, formatter);
  }
  const parts = Object.fromEntries(formatter.formatToParts(new Date(now)).map((part) => [part.type, part.value]));
  const weekday = (parts.weekday ?? "").toLowerCase().slice(0, 3);
  return {
    hour: Number(parts.hour ?? 0),
    weekday: (WEEKDAYS as readonly string[]).includes(weekday) ? weekday : "sun",
    date: `${parts.year}-${parts.month}-${parts.day}`,
  };
}

export interface RequestAttributeOptions {
  now: number;
  isNewVisitor: boolean;
  /**
   * The top-level names rules read (`geo`, `utm`, `device`, `time`, ...): only those are computed.
   * `request.cf` in particular is parsed on every access, and local time needs an `Intl` call.
   */
  groups: ReadonlySet<string>;
}

const FORBIDDEN_QUERY_NAMES = new Set(["__proto__", "constructor", "prototype"]);

function queryOf(url: URL): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (!Object.hasOwn(query, name) && name.length <= 64 && !FORBIDDEN_QUERY_NAMES.has(name)) query[name] = value.slice(0, 256);
  }
  return query;
}

function referrerOf(request: Request): AttributeTree {
  const referrer = request.headers.get("referer");
  let host: string | null = null;
  try {
    host = referrer === null ? null : new URL(referrer).hostname;
  } catch {
    host = null;
  }
  return { host, url: referrer === null ? null : referrer.slice(0, 512) };
}

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** The request's attributes that rules read, as a nested object ready for profile values. */
export function requestAttributes(request: Request, url: URL, options: RequestAttributeOptions): AttributeTree {
  const { groups } = options;
  const attributes: AttributeTree = { visitor: { new: options.isNewVisitor } };
  const query = groups.has("page") || groups.has("utm") ? queryOf(url) : {};
  if (groups.has("page")) attributes.page = { path: url.pathname, query };
  if (groups.has("utm")) {
    attributes.utm = {
      source: query.utm_source ?? null,
      medium: query.utm_medium ?? null,
      campaign: query.utm_campaign ?? null,
      term: query.utm_term ?? null,
      content: query.utm_content ?? null,
    };
  }
  if (groups.has("referrer")) attributes.referrer = referrerOf(request);
  if (groups.has("device")) attributes.device = classify(request.headers.get("user-agent") ?? "");
  if (groups.has("language") || groups.has("languages")) {
    const languages = languagesOf(request.headers.get("accept-language"));
    attributes.language = languages[0] ?? null;
    attributes.languages = languages;
  }
  if (groups.has("geo") || groups.has("time")) {
    const cf = (request.cf ?? {}) as Record<string, unknown>;
    attributes.geo = {
      country: text(cf.country),
      region: text(cf.region),
      region_code: text(cf.regionCode),
      city: text(cf.city),
      continent: text(cf.continent),
      postal_code: text(cf.postalCode),
      timezone: text(cf.timezone),
      eu: cf.isEUCountry === "1" || cf.isEUCountry === true,
    };
    if (groups.has("time")) attributes.time = localTime(options.now, text(cf.timezone) ?? undefined);
  }
  return attributes;
}
