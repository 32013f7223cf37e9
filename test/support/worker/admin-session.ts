/**
 * The editor's session as a browser holds it: signing in through the form, and the CSRF token
 * the rendered page carries. Shared by the admin tests that act as a signed-in editor.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { request } from "./fixtures.ts";

/** The content type of the sign-in and sign-out forms. */
export const FORM = "application/x-www-form-urlencoded";

/** A signed-in editor: the session cookie (`name=value`), the page's CSRF token, and the page itself. */
export interface EditorSession {
  cookie: string;
  csrf: string;
  page: string;
}

/** Signs in through the form as a browser on Tailor's own page does, from `address` (each test its own, so the limiter stays out of the way). */
export async function signIn(name = "Maria", address = "192.0.2.10"): Promise<EditorSession> {
  const response = await request("/admin/login", {
    method: "POST",
    headers: { "content-type": FORM, "sec-fetch-site": "same-origin", "cf-connecting-ip": address },
    body: new URLSearchParams({ name, token: env.ADMIN_TOKEN }).toString(),
  });
  expect(response.status).toBe(303);
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const page = await (await request("/admin", { headers: { cookie, accept: "text/html" } })).text();
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? "";
  expect(csrf).not.toBe("");
  return { cookie, csrf, page };
}
