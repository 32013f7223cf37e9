/**
 * The page benchmarks' visitors: cookies kept as a browser keeps them, and visitors with state
 * (events sent first), shared by `bench:pages` and `bench:profile-pages`.
 * @module
 */

/** How many visitors a page benchmark rotates through. */
export const VISITORS = 200;

// Every page request carries a desktop browser's User-Agent, as a visitor's would: Optimizely's
// package refuses to decide without one, and Tailor reads the device from it.
export const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";

/** The `name=value` pairs a response sets, as a browser keeps them (an expired cookie is dropped). */
export function keptCookies(response: Response, jar: Map<string, string>): void {
  for (const line of response.headers.getSetCookie()) {
    const [pair = ""] = line.split(";");
    const equals = pair.indexOf("=");
    if (/;\s*max-age=0\s*(;|$)/i.test(line)) jar.delete(pair.slice(0, equals));
    else jar.set(pair.slice(0, equals), pair.slice(equals + 1));
  }
}

export function cookieHeader(jar: Map<string, string>): string {
  return [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
}

/** Visitors with state: each sends events first and keeps the cookies the answer sets, as a browser would. */
export async function prepareVisitors(url: string, count = VISITORS): Promise<string[]> {
  const cookies: string[] = [];
  for (let index = 0; index < count; index++) {
    const id = `bench${String(index).padStart(5, "0")}`.padEnd(22, "v");
    const jar = new Map([["tailor_vid", id]]);
    const cookie = cookieHeader(jar);
    const batch = [
      {
        type: "track",
        event: "Product Viewed",
        messageId: `p-${index}-1`,
        properties: { product_id: "el-02", category: "electronics", price: 99 },
      },
      {
        type: "track",
        event: "Product Viewed",
        messageId: `p-${index}-2`,
        properties: { product_id: "el-05", category: "electronics", price: 249 },
      },
      {
        type: "track",
        event: "Product Added",
        messageId: `p-${index}-3`,
        properties: { product_id: "el-05", category: "electronics", price: 249 },
      },
    ];
    const response = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, "cf-connecting-ip": `10.9.${index >> 8}.${index & 255}` },
      body: JSON.stringify({ batch }),
    });
    if (response.status !== 202) throw new Error(`preparing visitor ${index}: ${response.status}`);
    keptCookies(response, jar);
    cookies.push(cookieHeader(jar));
  }
  return cookies;
}
