/** Values the global setup (Node) hands to tests running in workerd. */
declare module "vitest" {
  export interface ProvidedContext {
    originUrl: string;
    kafkaRestUrl: string;
    /** Seed for generated test cases; empty means "pick one and print it". */
    testSeed: string;
  }
}

export {};
