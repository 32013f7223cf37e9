/**
 * A small client for Tailor's admin API, for the command-line tools: where the server is, the
 * admin token (from `ADMIN_TOKEN`, or `.dev.vars` for local dev), and calls that turn problems
 * into clear messages.
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

export interface AdminClient {
  call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T }>;
}

export function adminClient(baseUrl: string, token: string, actor?: string): AdminClient {
  const base = baseUrl.replace(/\/$/, "");
  return {
    async call<T>(method: string, path: string, body?: unknown) {
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            ...(actor === undefined ? {} : { "x-tailor-actor": actor }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        throw new AdminError(`cannot reach ${base}: ${(error as Error).message}`, null, null);
      }
      const data = (await response.json().catch(() => ({}))) as T;
      if (response.status === 401) throw new AdminError("the admin token was refused (set ADMIN_TOKEN)", 401, data);
      return { status: response.status, data };
    },
  };
}
