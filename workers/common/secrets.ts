/**
 * Comparing secrets (tokens, signatures, CSRF tokens) without leaking through timing where they
 * differ or how long they are. Both sides are hashed with SHA-256 first, so the platform's
 * `timingSafeEqual` always compares two 32-byte digests, whatever the candidate's length.
 * @see https://developers.cloudflare.com/workers/examples/protect-against-timing-attacks/
 * @module
 */

const encoder = new TextEncoder();

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}

/** Whether `candidate` equals `secret`, in time independent of the position of the first difference and of either length. */
export async function secretsEqual(candidate: string, secret: string): Promise<boolean> {
  const [left, right] = await Promise.all([digest(candidate), digest(secret)]);
  return crypto.subtle.timingSafeEqual(left, right);
}

/** The shortest admin token accepted: a shorter configured token admits nobody. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** Whether an `Authorization` header carries the configured admin token as a bearer token. */
export async function isAdminBearer(authorization: string | undefined, token: string | undefined): Promise<boolean> {
  if (authorization === undefined || token === undefined || token.length < MIN_ADMIN_TOKEN_LENGTH) return false;
  return secretsEqual(authorization, `Bearer ${token}`);
}
