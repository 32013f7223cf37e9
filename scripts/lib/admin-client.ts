/**
 * A small client for Tailor's admin API, for the command-line tools: where the server is, how to
 * authenticate, and calls that turn problems into clear messages.
 *
 * Credentials: a Cloudflare Access service token (`TAILOR_ACCESS_CLIENT_ID` and
 * `TAILOR_ACCESS_CLIENT_SECRET`, sent as `CF-Access-Client-Id` / `CF-Access-Client-Secret`, which
 * Access exchanges for an assertion before the request reaches Tailor) — the only way in when
 * `ADMIN_AUTH = "access-only"` — and/or the admin token (`ADMIN_TOKEN`, or `.dev.vars` for local
 * dev). With both, both are sent: Access lets the request through and Tailor takes either.
 * @see https://developers.cloudflare.com/cloudflare-one/identity/service-tokens/
 * @module
 */
import { existsSync, readFileSync } from "node:fs";

export class AdminError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export function adminToken(): string | undefined {
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  if (!existsSync(".dev.vars")) return undefined;
  const token = /^ADMIN_TOKEN=(.*)$/m.exec(readFileSync(".dev.vars", "utf8"))?.[1]?.trim();
  return token === "" ? undefined : token;
}

/** How a tool proves who it is: an Access service token, the admin token, or both. */
export interface AdminCredentials {
  token?: string;
  access?: { clientId: string; clientSecret: string };
}

/** The credentials the environment provides, or undefined when there are none. */
export function adminCredentials(environment: NodeJS.ProcessEnv = process.env): AdminCredentials | undefined {
  const clientId = environment.TAILOR_ACCESS_CLIENT_ID?.trim();
  const clientSecret = environment.TAILOR_ACCESS_CLIENT_SECRET?.trim();
  const access = clientId && clientSecret ? { clientId, clientSecret } : undefined;
  const token = adminToken();
  if (access === undefined && token === undefined) return undefined;
  return { ...(token === undefined ? {} : { token }), ...(access === undefined ? {} : { access }) };
}

/** The request headers that carry the credentials. */
export function credentialHeaders(credentials: AdminCredentials): Record<string, string> {
  return {
    ...(credentials.token === undefined ? {} : { authorization: `Bearer ${credentials.token}` }),
    ...(credentials.access === undefined
      ? {}
      : { "cf-access-client-id": credentials.access.clientId, "cf-access-client-secret": credentials.access.clientSecret }),
  };
}

export interface AdminClient {
  call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T }>;
}

export function adminClient(baseUrl: string, credentials: AdminCredentials | string, actor?: string): AdminClient {
  const base = baseUrl.replace(/\/$/, "");
  const proof = typeof credentials === "string" ? { token: credentials } : credentials;
  return {
    async call<T>(method: string, path: string, body?: unknown) {
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, {
          method,
          headers: {
            ...credentialHeaders(proof),
            "content-type": "application/json",
            ...(actor === undefined ? {} : { "x-tailor-actor": actor }),
          },
          // Access answers an unauthenticated request with a redirect to its sign-in page.
          redirect: "manual",
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        throw new AdminError(`cannot reach ${base}: ${(error as Error).message}`, null, null);
      }
      if (response.status >= 300 && response.status < 400) {
        throw new AdminError(
          "Cloudflare Access sent the request to its sign-in page: set TAILOR_ACCESS_CLIENT_ID and TAILOR_ACCESS_CLIENT_SECRET to a service token the Access policy allows",
          response.status,
          null,
        );
      }
      const data = (await response.json().catch(() => ({}))) as T;
      if (response.status === 401) {
        throw new AdminError(
          "the credentials were refused (set ADMIN_TOKEN, or TAILOR_ACCESS_CLIENT_ID and TAILOR_ACCESS_CLIENT_SECRET where only Access is allowed)",
          401,
          data,
        );
      }
      return { status: response.status, data };
    },
  };
}
