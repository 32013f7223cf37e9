/** Values the global setup (Node) hands to tests running in workerd. */
declare module "vitest" {
  export interface ProvidedContext {
    originUrl: string;
    kafkaRestUrl: string;
    /** A double only the fault tests use. */
    kafkaRestFaultyUrl: string;
    /** Doubles that require bearer (`test-kafka-token`) or basic (`tailor` / `s3cret`) credentials. */
    kafkaRestBearerUrl: string;
    kafkaRestBasicUrl: string;
    /** A local Cloudflare Access key set, and its private key (JWK JSON) for signing test assertions. */
    accessCertsUrl: string;
    accessPrivateKey: string;
    /** An origin that answers with the request it received, as JSON. */
    echoOriginUrl: string;
    /** Another local host that counts the requests it gets; the page proxy must never reach it. */
    strayHostUrl: string;
    /** Origins that fail: accepts and never answers; answers with non-HTTP bytes; sends every caching header. */
    hangingOriginUrl: string;
    garbageOriginUrl: string;
    cachingOriginUrl: string;
    /** Sends headers and part of a page, then stalls; `/away` redirects to the stray host. */
    stallingOriginUrl: string;
    /** A local port nothing listens on. */
    refusedOriginUrl: string;
    /** Seed for generated test cases; empty means "pick one and print it". */
    testSeed: string;
  }
}

export {};
