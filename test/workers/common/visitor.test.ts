/**
 * Visitor ids and pseudonyms are written with `hono/utils/encode` instead of a hand-written
 * base64url, and the cookie with Hono's serializer. Every visitor's Durable Object is named by its
 * pseudonym, so the encoding must not change by a single character: these known answers were
 * taken from the hand-written version.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { expiredVisitorCookie, identifyVisitor, pseudonymFor, visitorCookie } from "../../../workers/common/visitor.ts";

const SECRET = "known-answer-secret-known-answer-secret";

describe("visitor encoding", () => {
  // Ids whose HMACs cover both base64url-only characters ("-" and "_") and plain ones.
  const knownAnswers: [id: string, pseudonym: string][] = [
    ["AAAAAAAAAAAAAAAAAAAAAA", "W3ju0JSwz9V4zn1499muAcuDPtS3csF6"],
    ["visitor-1", "7qtYkl0seaO4kHf7dC0PSfkgpnZmMjBt"],
    ["user:42", "nIWUJKSn22ltako4jTyq2jjAHL75uye2"],
    ["ip:192.0.2.1", "5uXUEQ8CoBfLv7__bdnqAmfJlpyimeQp"],
    ["zzzzzzzzzzzzzzzzzzzzzz", "lL6GWOR-1L0Wh0cIIEtAecjl4Z8NSOwi"],
    ["x", "9R0ItXBI2vE8eceRlo_FSN3nemeg-FdD"],
    ["é", "E4zsGu8fUmzRDLex5V9f0h5Il2B8En6J"],
    ["", "l22pD-vwX_jyQIilgXX3tXNLD5Epkum7"],
  ];

  it.each(knownAnswers)("names the visitor %s by the same pseudonym as before", async (id, pseudonym) => {
    expect(await pseudonymFor(id, SECRET)).toBe(pseudonym);
  });

  it("issues new ids of 22 base64url characters, without padding", async () => {
    const app = new Hono();
    const ids: string[] = [];
    app.get("/", async (context) => {
      ids.push((await identifyVisitor(context, SECRET)).id);
      return context.text("ok");
    });
    for (let index = 0; index < 200; index++) await app.fetch(new Request("http://shop.test/"), env, createExecutionContext());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([
    ["http://shop.test/", false],
    ["https://shop.test/", true],
  ] as const)("sets and removes the cookie at %s with the same attributes as before (Secure: %s)", (url, secure) => {
    const attributes = (cookie: string) => new Set(cookie.split(/;\s*/).slice(1));
    const expected = ["Path=/", "HttpOnly", "SameSite=Lax", ...(secure ? ["Secure"] : [])];
    const set = visitorCookie("AAAAAAAAAAAAAAAAAAAAAA", url);
    expect(set.split(";")[0]).toBe("tailor_vid=AAAAAAAAAAAAAAAAAAAAAA");
    expect(attributes(set)).toEqual(new Set([...expected, "Max-Age=31536000"]));
    const removed = expiredVisitorCookie(url);
    expect(removed.split(";")[0]).toBe("tailor_vid=");
    expect(attributes(removed)).toEqual(new Set([...expected, "Max-Age=0"]));
  });
});
