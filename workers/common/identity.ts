/**
 * Checking identity proofs against `IDENTITY_SECRET`, and naming a proven user's Durable Object.
 *
 * A deployment without the secret (or with one too short to be safe) links nobody: visitors stay
 * anonymous and keep getting their pages; the misconfiguration is logged.
 * @module
 */
import { importIdentityKey, type ProofError, verifyIdentityProof } from "../../shared/identity/proof.ts";
import { err, ok, type Result } from "../../shared/result.ts";
import { pseudonymFor } from "./visitor.ts";

const MIN_SECRET_LENGTH = 32;

/** Why a claimed identity was not accepted; the same words appear in the `reason` of a response. */
export type IdentityRejection = "proof-missing" | "proof-invalid" | "proof-expired" | "identity-not-configured";

const keys = new Map<string, Promise<CryptoKey>>();

function identityKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    key = importIdentityKey(secret);
    keys.set(secret, key);
  }
  return key;
}

function rejectionFor(error: ProofError): IdentityRejection {
  return error === "expired" ? "proof-expired" : "proof-invalid";
}

/**
 * The pseudonym of the user `userId`, if `proof` is a valid identity proof for exactly that id now.
 * The user id is used as sent, byte for byte, both for the proof and for the pseudonym.
 */
export async function provenUser(
  env: Pick<Env, "IDENTITY_SECRET" | "VISITOR_ID_SECRET">,
  userId: string,
  proof: string | undefined,
  now: number,
): Promise<Result<string, IdentityRejection>> {
  const secret = env.IDENTITY_SECRET as string | undefined;
  if (secret === undefined || secret.length < MIN_SECRET_LENGTH) {
    console.error(JSON.stringify({ message: "IDENTITY_SECRET is missing or shorter than 32 characters; nobody is linked" }));
    return err("identity-not-configured");
  }
  if (proof === undefined || proof === "") return err("proof-missing");
  const verified = await verifyIdentityProof(await identityKey(secret), userId, proof, Math.floor(now / 1000));
  if (!verified.ok) return err(rejectionFor(verified.error));
  return ok(await pseudonymFor(`user:${userId}`, env.VISITOR_ID_SECRET));
}
