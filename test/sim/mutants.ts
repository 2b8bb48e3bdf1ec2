/**
 * Bugs the simulation must catch, each as the edits that put it back into the fixed code. `npm run sim:mutants`
 * applies each alone in a copy of the project and runs seeds until one breaks an invariant (showing the harness
 * can fail, and how many seeds that takes); `npm run sim:mutants -- --pins` checks that each seed pinned in
 * `regressions.test.ts` still catches its bug. An edit whose text is no longer in the code fails loudly: update
 * the mutant with the code, so it keeps meaning the same bug.
 */
export interface Mutant {
  name: string;
  bug: string;
  edits: { file: string; from: string; to: string }[];
}

export const MUTANTS: Mutant[] = [
  // Issue 18: the six failure paths.
  {
    name: '1',
    bug: 'a failed claim ahead rejects the run: an unhandled rejection',
    edits: [
      {
        file: 'lib/tracking/poller.ts',
        from: '    if (claim.error !== undefined) {\n      this.failure ??= claim.error;',
        to: '    if (claim.error !== undefined) {\n      throw claim.error;',
      },
    ],
  },
  {
    name: '2',
    bug: 'a claim that fails part-way loses what it won, and goes on claiming',
    edits: [
      {
        file: 'lib/tracking/store.ts',
        from: '      if (result.error !== undefined) return undefined; // the claim already failed: claim nothing more\n',
        to: '',
      },
      {
        file: 'lib/tracking/store.ts',
        from: '    return result;\n  }\n\n  async list(',
        to: '    return result.error === undefined ? result : { tasks: [], unsure: [], error: result.error };\n  }\n\n  async list(',
      },
    ],
  },
  {
    name: '3',
    bug: "a crashed run's pre-written check is kept, made or not",
    edits: [
      {
        file: 'lib/tracking/store.ts',
        from: 'return settleStaleLease(task, run !== null && !run.has(task.id));',
        to: 'return settleStaleLease(task, true);',
      },
    ],
  },
  {
    name: '4',
    bug: "an on-demand reading is compared with the claim's pre-written time, final or not",
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from:
          '  const task = fromPoller ? unclaimed(claimed, ctx) : finished ? undoClaim(claimed) : claimed;\n' +
          "  const pending = !fromPoller ? task.lease?.check : undefined; // a poller's check in flight\n" +
          '  const lastRead = pending ? pending.lastCheckedAt : task.lastCheckedAt;\n' +
          '  if (!finished && lastRead !== null && lastRead >= observation.checkedAt) {',
        to:
          '  const task = fromPoller ? unclaimed(claimed, ctx) : claimed;\n' +
          '  const lastRead = task.lastCheckedAt;\n' +
          '  if (lastRead !== null && lastRead >= observation.checkedAt) {',
      },
    ],
  },
  {
    name: '5',
    bug: 'a return of quota slots whose answer was lost looks refused, and the container keeps the slots',
    edits: [
      {
        file: 'lib/lke/quota-table.ts',
        from: "      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;\n      if (stats) stats.reads++;",
        to: "      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;\n      if (mark) return undefined;\n      if (stats) stats.reads++;",
      },
      {
        file: 'lib/lke/quota.ts',
        from: '    this.slots.splice(this.slots.length - usable, usable);\n    this.reservedUntil = end - span;\n    try {',
        to: '    try {',
      },
      {
        file: 'lib/lke/quota.ts',
        from: '      if (seq !== undefined) this.reservedSeq = seq;',
        to:
          '      if (seq !== undefined) {\n        this.reservedSeq = seq;\n' +
          '        this.slots.splice(this.slots.length - usable, usable);\n        this.reservedUntil = end - span;\n      }',
      },
    ],
  },
  {
    name: '6',
    bug: 'SMH answers are parsed with JSON.parse: a number beyond 2^53 becomes another',
    edits: [{ file: 'lib/smh/client.ts', from: 'body = parseJson(text);', to: 'body = JSON.parse(text);' }],
  },
  // Found while fixing them.
  {
    name: 'fair',
    bug: 'claims sized by batch, not by pace: tasks given back unchecked while others are checked twice',
    edits: [
      {
        file: 'lib/tracking/poller.ts',
        from: '    if (!perMs) return limit;',
        to: '    if (perMs || !perMs) return limit;',
      },
    ],
  },
  {
    name: 'paceguess',
    bug: 'a claim trusts a pace measured over a second: a run that others then slow gives back what it claimed',
    edits: [
      {
        file: 'lib/tracking/poller.ts',
        from: '      ? Math.min(CLAIM_HORIZON_MS, Math.max(FIRST_CLAIM_MS, 2 * this.pace.ms))',
        to: '      ? CLAIM_HORIZON_MS',
      },
    ],
  },
  {
    name: 'failopen',
    bug: 'no last per-container send window: calls that waited on a failing quota table go out together',
    edits: [{ file: 'lib/lke/client.ts', from: '      await this.limiter.admit(options);\n', to: '' }],
  },
  {
    name: 'unstorable',
    bug: 'a result DynamoDB cannot store is written as it is',
    edits: [
      {
        file: 'lib/tracking/store.ts',
        from: '  if (problem) {',
        to: '  if (problem && Math.random() > 2) {',
      },
    ],
  },
  {
    name: 'reopen',
    bug: 'an expired task reopened by a reading is reopened at the write, and announced twice',
    edits: [
      {
        file: 'lib/tracking/service.ts',
        from: '    const reopened = reopen(current, readAt);',
        to: '    const reopened = reopen(current, ctx);',
      },
      {
        file: 'lib/tracking/transitions.ts',
        from: 'outbox: [...after.outbox.filter((e) => !ids.has(e.id)), ...entries] };',
        to: 'outbox: [...after.outbox.filter((e) => ids.size < 0 && !ids.has(e.id)), ...after.outbox, ...entries] };',
      },
    ],
  },
  {
    name: 'lateland',
    bug: 'a give-back that finds its unsure claim not landed forgets it: a check counted that never ran',
    edits: [
      {
        file: 'lib/tracking/poller.ts',
        from: '        else if (outcome?.written) this.unsure.delete(id);',
        to: '        else this.unsure.delete(id);',
      },
    ],
  },
  {
    name: 'late',
    bug: "a call may go half a slot late, past the quota's margin",
    edits: [
      {
        file: 'lib/lke/quota.ts',
        from: 'this.lateMs = Math.min(this.spacingMs, marginMs) / 2;',
        to: 'this.lateMs = this.spacingMs / 2;',
      },
    ],
  },
  {
    name: 'aba',
    bug: 'a return of slots applies over changes made since its reservation',
    edits: [
      {
        file: 'lib/lke/quota-table.ts',
        from: "ConditionExpression: '#seq = :seq',",
        to: "ConditionExpression: '#seq >= :seq',",
      },
    ],
  },
  {
    name: 'lastcheck',
    bug: 'a task past its max age is given up even when its last check found it finished',
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from: '  if (checked === null || isFinished(checked.status)) return checked;',
        to: '  if (checked === null) return checked;',
      },
    ],
  },
  {
    name: 'neverexpire',
    bug: 'a task past its max age is checked for ever: its last check never gives it up',
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from: '  if (checked === null || isFinished(checked.status)) return checked;',
        to: '  if (checked === null || !isFinished(checked.status) || isFinished(checked.status)) return checked;',
      },
    ],
  },
  {
    name: 'nolastcheck',
    bug: 'a task past its max age is given up unchecked',
    edits: [
      {
        file: 'lib/tracking/poller.ts',
        from: '    const grace = lastCheckGraceMs(ctx.schedule);',
        to: '    const grace = 0 * lastCheckGraceMs(ctx.schedule);',
      },
    ],
  },
  {
    name: 'gone1',
    bug: 'one not-found ends a task',
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from: 'export const GONE_AFTER = { notFound: 2, refused: 3 } as const;',
        to: 'export const GONE_AFTER = { notFound: 1, refused: 3 } as const;',
      },
    ],
  },
  {
    name: 'nospan',
    bug: 'not-founds need not span the base interval',
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from: '  if (strikes.count >= after && spanned) {',
        to: '  if (strikes.count >= after && (spanned || !spanned)) {',
      },
    ],
  },
  {
    name: 'throttlecount',
    bug: 'a throttled check counts as a failed one',
    edits: [
      {
        file: 'lib/tracking/poller.ts',
        from: 'if (outcome.error instanceof UpstreamThrottledError) return this.pause(task);',
        to: 'if (outcome.error instanceof UpstreamThrottledError) return this.recordFailure(task, outcome.error);',
      },
    ],
  },
  {
    name: 'untrackcb',
    bug: 'untracking queues no notifications',
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from: '    untracked: { at, requestId },\n  };\n  return announce(base, next, ctx);',
        to: '    untracked: { at, requestId },\n  };\n  return next;',
      },
    ],
  },
  {
    name: 'untrackreopen',
    bug: 'tracking an untracked task again does not resume checks',
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from: "  return status === 'expired' || status === 'untracked';",
        to: "  return status === 'expired';",
      },
    ],
  },
  {
    name: 'untracklease',
    bug: "untracking keeps a poller's lease and its pre-written check",
    edits: [
      {
        file: 'lib/tracking/transitions.ts',
        from: '  const base = undoClaim(task);\n  const at = iso(ctx.now);\n  const provider',
        to: '  const base = task;\n  const at = iso(ctx.now);\n  const provider',
      },
      {
        file: 'lib/tracking/transitions.ts',
        from: "    history: withStatus(base, 'untracked', base.upstreamStatus, at),\n    lease: null,",
        to: "    history: withStatus(base, 'untracked', base.upstreamStatus, at),",
      },
    ],
  },
];
