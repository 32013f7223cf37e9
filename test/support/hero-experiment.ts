/**
 * The rules document the experiment tests publish: one rule on the homepage whose experiment
 * shows the hero as "Calm" or "BOLD". Pure data, so the workerd tests and the system tests share it.
 */

/** The hero experiment's two variants, in the order the document lists them. */
export const HERO_VARIANTS = ["calm", "bold"] as const;

/**
 * A rules document whose one rule (`hero-test`) runs `experiment` on the homepage's hero, with
 * `experiments` as the document's experiment definitions (the one named, and any others).
 */
export function heroExperimentDocument(experiment: string, experiments: Record<string, unknown>, version = 1) {
  return {
    version,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    experiments,
    rules: [
      {
        id: "hero-test",
        pages: ["/"],
        experiment: {
          id: experiment,
          variants: { calm: { hero: { type: "setText", text: "Calm" } }, bold: { hero: { type: "setText", text: "BOLD" } } },
        },
      },
    ],
  };
}
