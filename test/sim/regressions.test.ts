import type { Family } from './scenario';
import { report } from './seeds';
import { simulate } from './world';

/**
 * Seeds that found a bug, pinned: each broke an invariant on the code before its fix (put back, the bug breaks
 * it again), and keeps every invariant now. A seed names a world as `test/sim/scenario.ts` draws it today: if
 * the scenario's drawing changes, find the bug's seed again (`npm run sim -- --stop` with the bug put back).
 */
const PINNED: { seed: number; family?: Family; found: string }[] = [
  // Issue 18, the six failure paths.
  { seed: 11, found: 'a failed claim ahead was an unhandled rejection: the process died' },
  { seed: 388, found: 'a claim that failed part-way lost what it won: leases leaked, checks counted unmade' },
  { seed: 4, found: "a crashed run's pre-written check stayed counted, and the backoff stepped up for good" },
  { seed: 29, found: "an on-demand reading was compared with the claim's pre-written time and lost" },
  { seed: 183, found: 'a return of quota slots whose answer was lost left the container using freed slots' },
  { seed: 3, found: 'an SMH number beyond 2^53 was read as another number, and stored so' },
];

describe('seeds that found bugs', () => {
  it.each(PINNED)(
    'seed $seed keeps every invariant ($found)',
    async ({ seed, family }) => {
      const result = await simulate({ seed, ...(family ? { family } : {}) });
      expect(result.violations.length === 0 ? [] : [report(result)]).toEqual([]);
    },
    60_000,
  );
});
