import { simulate, type SimResult } from './world';

/**
 * Runs seeds of the simulation in jest, `perTest` at a time; a failing seed fails its test with its violations,
 * the trace that led there, and the command that replays it.
 */
export function simulationSuite(from: number, count: number, perTest = 10) {
  const chunks: [number, number][] = [];
  for (let first = from; first < from + count; first += perTest)
    chunks.push([first, Math.min(first + perTest, from + count) - 1]);
  it.each(chunks)(
    'seeds %i to %i keep every invariant',
    async (first, last) => {
      const failed: SimResult[] = [];
      for (let seed = first; seed <= last; seed++) {
        const result = await simulate({ seed });
        if (result.violations.length > 0) failed.push(result);
      }
      expect(failed.map(report)).toEqual([]);
    },
    120_000,
  );
}

export function report(result: SimResult): string {
  return [
    `seed ${result.seed} (${result.family}) — replay: SIM_SEED=${result.seed} npm run sim`,
    ...result.violations.slice(0, 5),
    ...result.tail.slice(-25),
  ].join('\n');
}
