import { simulate, type SimResult } from './world';

/** sim-1.test.ts and sim-2.test.ts run seeds 1 to this one, each of the family it draws. */
export const SUITE_LAST_SEED = 220;

/**
 * Runs seeds `from` to `from + count - 1` of the simulation in jest, one test per seed: a failing seed fails its
 * own test, named by its seed, with its violations, the trace that led there, and the command that replays it.
 */
export function simulationSuite(from: number, count: number) {
  const seeds = Array.from({ length: count }, (_, n) => from + n);
  it.each(seeds)(
    'seed %i keeps every invariant',
    async (seed) => {
      const result = await simulate({ seed });
      expect(result.violations.length === 0 ? [] : [report(result)]).toEqual([]);
    },
    60_000,
  );
}

export function report(result: SimResult): string {
  return [
    `seed ${result.seed} (${result.family}) — replay: ${result.replay}`,
    ...result.violations.slice(0, 5),
    ...result.tail.slice(-25),
  ].join('\n');
}
