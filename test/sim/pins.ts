import type { Family } from './scenario';

/**
 * Seeds that found a bug: each broke an invariant on the code with the bug (`mutant`, in `mutants.ts`: put back,
 * it breaks it again), and keeps every invariant now. A seed names a world as `test/sim/scenario.ts` draws it
 * today: when the scenario or the code changes what a seed runs, `npm run sim:mutants -- --pins` says which pins
 * no longer catch their bug, and `npm run sim:mutants -- <mutant>` finds a seed that does.
 *
 * Seeds 1 to 220 of their own family run in sim-1/sim-2 anyway; they are listed here for the record, and only the
 * others run in regressions.test.ts.
 */
export const PINNED: { seed: number; family?: Family; mutant: string; found: string }[] = [
  // Issue 18, the six failure paths.
  { seed: 8, mutant: '1', found: 'a failed claim ahead was an unhandled rejection: the process died' },
  {
    seed: 969,
    mutant: '2',
    found: 'a claim that failed part-way lost what it won: leases leaked, checks counted unmade',
  },
  {
    seed: 6,
    mutant: '3',
    found: "a crashed run's pre-written check stayed counted, and the backoff stepped up for good",
  },
  {
    seed: 9,
    mutant: '4',
    found: "an on-demand reading was compared with the claim's pre-written time and lost",
  },
  {
    seed: 135,
    mutant: '5',
    found: 'a return of quota slots whose answer was lost left the container using freed slots',
  },
  { seed: 2, mutant: '6', found: 'an SMH number beyond 2^53 was read as another number, and stored so' },
  // Found while fixing them (each a mutation of the fixed code that the simulation must catch).
  {
    seed: 1,
    mutant: 'fair',
    found: 'claims sized by batch, not by pace: a task given back unchecked while another was checked twice',
  },
  {
    seed: 5621,
    mutant: 'paceguess',
    found:
      'a claim trusted a pace measured over a second: others then shared the quota, and it gave tasks back',
  },
  {
    seed: 266,
    mutant: 'failopen',
    found: 'calls that waited on a failing quota table went out together: over the limit in one second',
  },
  {
    seed: 6,
    mutant: 'unstorable',
    found: 'a result too large for DynamoDB was written as it was: the record could never be stored',
  },
  {
    seed: 2,
    mutant: 'reopen',
    found: 'an expired task reopened by a reading was reopened at the time of the write, and announced twice',
  },
  {
    seed: 42,
    mutant: 'late',
    found: "a call let go half a slot late, past the quota's margin: 6 calls in one second",
  },
  {
    seed: 27,
    mutant: 'aba',
    found: 'a return of slots applied over bookings made since: 6 calls in one second',
  },
  {
    seed: 35,
    mutant: 'neverexpire',
    found: 'a task past its max age whose last check found it running was never given up',
  },
  { seed: 9, mutant: 'untrackcb', found: 'untracking queued no notifications: a waiter never heard of it' },
  { seed: 2, mutant: 'untrackreopen', found: 'tracking an untracked task again did not resume checks' },
  {
    seed: 9,
    mutant: 'untracklease',
    found: "untracking kept a poller's lease: the task was checked while untracked",
  },
];
