import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lkeConfig } from '../../lib/config';
import { FileNotifier } from '../../lib/handover/notifier';
import { LkeClient } from '../../lib/lke/client';
import type { TrackedTask } from '../../lib/tracking/model';
import { lkeChecker, smhChecker, type CheckOutcome, type Checker } from '../../lib/tracking/checkers';
import { DeadlineExceededError } from '../../lib/errors';
import { poll, type PollSummary } from '../../lib/tracking/poller';
import { lastCheckGraceMs } from '../../lib/tracking/transitions';
import { lkeIdentity, smhIdentity, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { SECRET_ID, SECRET_KEY } from '../helpers/lke';
import { captureLog } from '../helpers/log';
import { LIB, LIB_SECRET, smhClientFor } from '../helpers/smh';

let dynamo: LocalDynamo;
let sandbox: Sandbox;
let clock: ReturnType<typeof testClock>;
let store: TaskStore;

beforeEach(async () => {
  [dynamo, sandbox] = await Promise.all([
    startDynamo(),
    startSandbox({
      lke: { credentials: { [SECRET_ID]: { secretKey: SECRET_KEY } }, rateLimitPerSecond: 1_000_000 },
      smh: { libraries: [{ libraryId: LIB, secret: LIB_SECRET }] },
    }),
  ]);
  clock = testClock();
  store = storeFor(dynamo, clock);
});
afterEach(async () => {
  await Promise.all([dynamo.close(), sandbox.close()]);
});

function lke(env: Record<string, string> = {}) {
  const client = new LkeClient({
    config: lkeConfig({
      LKE_ENDPOINT: sandbox.url,
      LKE_RATE_LIMIT_PER_SECOND: '1000',
      UPSTREAM_RETRY_BASE_MS: '1',
      UPSTREAM_RETRY_MAX_MS: '2',
      ...env,
    }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
    now: () => new Date(clock.now()), // readings are stamped on the store's clock, as on one machine
  });
  return lkeChecker(() => client);
}
const smh = () => {
  const client = smhClientFor(sandbox);
  return smhChecker(() => client);
};
const sinkFile = join(mkdtempSync(join(tmpdir(), 'ttt-poll-')), 'notifications.jsonl');
const sink = new FileNotifier(sinkFile);
/** The events the sink was handed for one task, as `<status> <detail-type>`. */
const eventsOf = (id: string) =>
  readFileSync(sinkFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(
      (line) =>
        JSON.parse(line) as { kind: string; detailType?: string; detail?: { id: string; status: string } },
    )
    .filter((n) => n.kind === 'event' && n.detail?.id === id)
    .map((n) => `${n.detail?.status} ${n.detailType}`);
const run = (checker: Checker, s: TaskStore = store, extra: { owner?: string; deadlineMs?: number } = {}) =>
  poll(
    { store: s, checker, log: captureLog(), notifier: sink, ...(extra.owner ? { owner: extra.owner } : {}) },
    { deadline: clock.now() + (extra.deadlineMs ?? 60_000) },
  );
const lkeTask = (taskId: string, status: string | null = 'RUNNING') => {
  sandbox.lke.setTask({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId, status, cosPath: '' });
  return lkeIdentity({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId });
};
const get = async (id: string) => (await store.get(id)) as TrackedTask;

describe('poll (LKE)', () => {
  it('without a notifier, leaves tasks that only owe notifications alone (no claim, no write) until one can deliver', async () => {
    for (const id of ['301', '302', '303']) await track(store, lkeTask(id, 'SUCCESS'));
    const bare = () => poll({ store, checker: lke(), log: captureLog() }, { deadline: clock.now() + 60_000 });
    expect(await bare()).toMatchObject({ claimed: 3, finished: 3, notified: 0 });
    clock.advance(60_000);
    // Their events are owed and due, but this run cannot deliver them: claiming would only write twice.
    expect(await bare()).toMatchObject({ claimed: 0, checked: 0 });
    expect(await run(lke())).toMatchObject({ claimed: 3, notified: 6 }); // a change and a final event each
  });

  it('follows a task from tracked to succeeded, with its history', async () => {
    const { task } = await track(store, lkeTask('100', 'RUNNING'));
    const first = await run(lke());
    expect(first).toMatchObject({
      claimed: 1,
      checked: 1,
      changed: 1,
      finished: 0,
      failed: 0,
      rescheduled: 1,
    });
    expect(await get(task.id)).toMatchObject({
      status: 'running',
      upstreamStatus: 'RUNNING',
      attempts: 1,
      lease: null,
    });

    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '100',
      status: 'SUCCESS',
      cosPath: 'cos://x',
    });
    expect(await run(lke())).toMatchObject({ claimed: 0 }); // not due yet
    clock.advance(60_000);
    expect(await run(lke())).toMatchObject({ claimed: 1, checked: 1, changed: 1, finished: 1 });
    const done = await get(task.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      result: { cosPath: 'cos://x' },
      attempts: 2,
      nextCheckAt: null,
    });
    expect(done.history.map((h) => [h.status, h.upstreamStatus])).toEqual([
      ['pending', null],
      ['running', 'RUNNING'],
      ['succeeded', 'SUCCESS'],
    ]);
    clock.advance(3_600_000);
    expect(await run(lke())).toMatchObject({ claimed: 0 }); // finished tasks are never checked again
  });

  it('logs one line per status change, with the task it is about, and none for an unchanged check', async () => {
    const { task } = await track(store, lkeTask('160', 'RUNNING'));
    const changes = (log: ReturnType<typeof captureLog>) =>
      log.entries.filter((e) => e.message === 'task status changed').map((e) => e.extra);
    const runWith = async (log: ReturnType<typeof captureLog>) => {
      await poll({ store, checker: lke(), log, notifier: sink }, { deadline: clock.now() + 60_000 });
      return changes(log);
    };
    expect(await runWith(captureLog())).toEqual([
      {
        id: task.id,
        provider: 'lke',
        botBizId: '1',
        taskType: 'ExportAttributeLabel',
        taskId: '160',
        from: 'pending',
        to: 'running',
        upstreamStatus: 'RUNNING',
      },
    ]);
    clock.advance(60_000);
    expect(await runWith(captureLog())).toEqual([]); // unchanged
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '160',
      status: 'FAILED',
      message: 'the label file is malformed',
    });
    clock.advance(120_000);
    expect(await runWith(captureLog())).toEqual([
      expect.objectContaining({
        from: 'running',
        to: 'failed',
        upstreamStatus: 'FAILED',
        upstreamMessage: 'the label file is malformed',
      }),
    ]);
  });

  it('an unchanged check is one write: the claim already stored what an unchanged answer would', async () => {
    const { task } = await track(store, lkeTask('150', 'RUNNING'));
    await run(lke()); // pending → running: a change, written as such
    const before = await get(task.id);
    clock.advance(60_000);
    expect(await run(lke())).toMatchObject({ claimed: 1, checked: 1, changed: 0, rescheduled: 1 });
    const after = await get(task.id);
    expect(after.version).toBe(before.version + 1); // the claim, nothing after it
    expect(after).toMatchObject({
      status: 'running',
      attempts: before.attempts + 1,
      polls: before.polls + 1,
      lastCheckedAt: new Date(clock.now()).toISOString(),
      nextCheckAt: new Date(clock.now() + 120_000).toISOString(),
    });
    // The lease it keeps ends long before the next check, which is when the task is due again.
    clock.advance(119_000);
    expect(await run(lke())).toMatchObject({ claimed: 0 });
    clock.advance(1_000);
    expect(await run(lke())).toMatchObject({ claimed: 1, checked: 1 });
  });

  it('an unchanged check still hands over the notifications the task owes', async () => {
    const { task } = await track(store, lkeTask('152', 'RUNNING'));
    const bare = () => poll({ store, checker: lke(), log: captureLog() }, { deadline: clock.now() + 60_000 });
    expect(await bare()).toMatchObject({ changed: 1, notified: 0 }); // pending → running, its event owed
    clock.advance(60_000); // the next check and the owed event are both due
    expect(await run(lke())).toMatchObject({ checked: 1, changed: 0, notified: 1 });
    expect((await get(task.id)).outbox).toEqual([]);
  });

  it('a claimed check that fails or is given back counts as it always did (the claim is undone first)', async () => {
    const { task } = await track(store, lkeTask('151', 'RUNNING'));
    await run(lke());
    const before = await get(task.id);
    clock.advance(60_000);
    sandbox.lke.setTask({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId: '151', status: null });
    await run(lke({ LKE_ENDPOINT: 'http://127.0.0.1:9' })); // unreachable: a failed check
    const failed = await get(task.id);
    expect(failed).toMatchObject({
      attempts: before.attempts + 1,
      polls: before.polls + 1,
      lastCheckedAt: before.lastCheckedAt,
      lastError: expect.objectContaining({ code: expect.any(String) }),
      lease: null,
    });
  });

  it('backs off by the settings: base × factor^n, capped', async () => {
    store = storeFor(dynamo, clock, {
      POLL_BASE_INTERVAL_SECONDS: '10',
      POLL_BACKOFF_FACTOR: '3',
      POLL_MAX_INTERVAL_SECONDS: '200',
    });
    const { task } = await track(store, lkeTask('101'));
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await run(lke());
      const stored = await get(task.id);
      delays.push((Date.parse(stored.nextCheckAt as string) - clock.now()) / 1000);
      clock.set(Date.parse(stored.nextCheckAt as string));
    }
    expect(delays).toEqual([10, 30, 90, 200, 200]);
  });

  it('checks a task past its max age once more before giving it up: finished, it ends as it finished', async () => {
    // Found by the simulation (seed 5287): checks that slipped (crashes, an outage) left a task unchecked for the
    // last stretch of its max age, it succeeded upstream there, and the poller expired it without asking.
    store = storeFor(dynamo, clock, { POLL_MAX_AGE_DAYS: '1' });
    const { task: still } = await track(store, lkeTask('102'));
    const { task: done } = await track(store, lkeTask('103'));
    lkeTask('103', 'SUCCESS');
    clock.advance(86_400_000 + 1);
    const requests = sandbox.lke.requestCount;
    const summary = await run(lke());
    expect(summary).toMatchObject({ claimed: 2, checked: 2, finished: 2, changed: 2 });
    expect(sandbox.lke.requestCount - requests).toBe(2);
    expect(await get(done.id)).toMatchObject({ status: 'succeeded', attempts: 1, lease: null });
    const expired = await get(still.id);
    expect(expired).toMatchObject({
      status: 'expired',
      upstreamStatus: 'RUNNING', // what the last check read
      message: expect.stringMatching(/after 1 days/),
      attempts: 1, // that check counts
      nextCheckAt: null,
      lease: null,
    });
    // One change announced: the status the write ended in (not also pending → running).
    expect(expired.history.map((h) => h.status)).toEqual(['pending', 'running', 'expired']);
    expect(eventsOf(still.id)).toEqual(['expired Task Status Changed', 'expired Task Expired']);
    expect(eventsOf(done.id)).toEqual(['succeeded Task Status Changed', 'succeeded Task Succeeded']);
  });

  it('gives a task past its max age up without its last check only when that check could not be had for long', async () => {
    // Found by review: with the last check required, a task throttled for good past its max age never ended.
    store = storeFor(dynamo, clock, { POLL_MAX_AGE_DAYS: '1' });
    const { task } = await track(store, lkeTask('104'));
    clock.advance(86_400_000 + 1);
    sandbox.lke.inject({ kind: 'error', code: 'RequestLimitExceeded' }, 100);
    expect(await run(lke())).toMatchObject({ throttled: 1, finished: 0 });
    expect(await get(task.id)).toMatchObject({ status: 'pending', attempts: 0 });
    clock.advance(lastCheckGraceMs(store.config));
    const requests = sandbox.lke.requestCount;
    expect(await run(lke())).toMatchObject({ claimed: 1, checked: 0, finished: 1 });
    expect(sandbox.lke.requestCount).toBe(requests);
    expect(await get(task.id)).toMatchObject({
      status: 'expired',
      attempts: 0,
      message: expect.stringMatching(/after 1 days/),
    });
    sandbox.lke.clearFaults();
  });

  it('expires a task LKE does not know, after two answers a check interval apart', async () => {
    const { task } = await track(store, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '404' }));
    expect(await run(lke())).toMatchObject({ checked: 1, finished: 0, rescheduled: 1 });
    expect(await get(task.id)).toMatchObject({
      status: 'pending',
      strikes: { code: 'TaskNotFound', count: 1 },
      lastError: { code: 'TaskNotFound' },
    });
    clock.advance(60_000);
    expect(await run(lke())).toMatchObject({ checked: 1, finished: 1 });
    expect(await get(task.id)).toMatchObject({ status: 'expired', message: 'LKE does not know this task' });
  });

  it('does not expire a task whose one refusal was followed by a status', async () => {
    const identity = lkeTask('405', 'RUNNING');
    const { task } = await track(store, identity);
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '405',
      status: null,
      failWith: 'ResourceNotFound',
    });
    await run(lke());
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '405',
      status: 'RUNNING',
    });
    clock.advance(60_000);
    await run(lke());
    expect(await get(task.id)).toMatchObject({ status: 'running', strikes: null, lastError: null });
  });

  it('gives a task up when LKE keeps refusing it with the same non-transient error (not after 30 days)', async () => {
    const { task } = await track(store, lkeTask('406'));
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '406',
      status: null,
      failWith: 'FailedOperation',
    });
    for (let i = 0; i < 2; i++) {
      await run(lke());
      expect((await get(task.id)).status).toBe('pending');
      clock.set(Date.parse((await get(task.id)).nextCheckAt as string));
    }
    await run(lke());
    expect(await get(task.id)).toMatchObject({
      status: 'expired',
      message: expect.stringMatching(
        /^Gave up: LKE keeps refusing this task: UpstreamError: LKE FailedOperation/,
      ),
    });
  });

  it('never gives a task up for errors that say nothing about it (auth, outages): only at max age, naming the last one', async () => {
    store = storeFor(dynamo, clock, { POLL_MAX_AGE_DAYS: '1' });
    const { task } = await track(store, lkeTask('407'));
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '407',
      status: null,
      failWith: 'AuthFailure.SignatureExpire',
    });
    for (let i = 0; i < 5; i++) {
      await run(lke());
      clock.set(Date.parse((await get(task.id)).nextCheckAt as string));
    }
    expect((await get(task.id)).status).toBe('pending');
    clock.advance(86_400_000);
    await run(lke());
    expect(await get(task.id)).toMatchObject({
      status: 'expired',
      message: expect.stringMatching(
        /^Gave up: no final status after 1 days \(last error: UpstreamAuthFailure: .*clock differs from Tencent's/,
      ),
    });
  });

  it('never fails the batch for one task: upstream errors and damaged records are counted and retried', async () => {
    const good = await Promise.all(['1', '2', '3'].map((id) => track(store, lkeTask(`20${id}`, 'SUCCESS'))));
    const damaged = await track(store, lkeIdentity({ botBizId: 'x y', taskType: 'T', taskId: '9' }));
    const rejected = await track(store, lkeTask('204'));
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '204',
      status: null,
      failWith: 'FailedOperation',
    });
    const summary = await run(lke());
    expect(summary).toMatchObject({ claimed: 5, checked: 3, failed: 2, finished: 3, rescheduled: 2 });
    for (const { task } of good) expect((await get(task.id)).status).toBe('succeeded');
    expect(await get(rejected.task.id)).toMatchObject({
      status: 'pending',
      strikes: { code: 'UpstreamError', count: 1 },
      lastError: { code: 'UpstreamError', message: expect.stringContaining('FailedOperation') },
    });
    expect(await get(damaged.task.id)).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: { code: 'InvalidParameter' },
      nextCheckAt: new Date(clock.now() + 60_000).toISOString(),
    });
    expect(sandbox.lke.checks.has('x y/T/9')).toBe(false); // the damaged record never went upstream
  });

  it('slows down on throttling instead of failing tasks', async () => {
    const tracked = await Promise.all(['1', '2'].map((id) => track(store, lkeTask(`30${id}`, 'SUCCESS'))));
    sandbox.lke.inject({ kind: 'error', code: 'RequestLimitExceeded' }, 8); // 2 tasks × 4 attempts
    const summary = await run(lke(), store, { deadlineMs: 14_000 });
    expect(summary).toMatchObject({ claimed: 2, throttled: 2, failed: 0, finished: 0 });
    for (const { task } of tracked) {
      expect(await get(task.id)).toMatchObject({ status: 'pending', attempts: 0, polls: 0, lease: null });
    }
    clock.advance(5_000);
    expect(await run(lke())).toMatchObject({ claimed: 2, finished: 2, throttled: 0 });
  });

  it('claims only what it can check before its deadline, and the next run takes the rest', async () => {
    for (let i = 0; i < 8; i++) await track(store, lkeTask(`40${i}`, 'SUCCESS'));
    // 2 requests per second and 1.3 s of checking time: only part of the 8 due tasks fits. Claiming them all
    // would keep the rest from other runs until this one gives them back at its deadline.
    const summary = await poll(
      { store, checker: lke({ LKE_RATE_LIMIT_PER_SECOND: '2' }), log: captureLog(), notifier: sink },
      { deadline: clock.now() + 1500, claimMarginMs: 500, checkMarginMs: 200 },
    );
    expect(summary.claimed).toBeGreaterThan(0);
    expect(summary.claimed).toBeLessThan(8);
    expect(summary).toMatchObject({ checked: summary.claimed, finished: summary.claimed });
    const next = await run(lke());
    expect(next).toMatchObject({ claimed: 8 - summary.claimed, finished: 8 - summary.claimed });
  });

  it('loses nothing when a poller dies mid-run: leases expire and the next run does the work', async () => {
    const tracked = await Promise.all(
      Array.from({ length: 10 }, (_, i) => track(store, lkeTask(`50${i}`, 'SUCCESS'))),
    );
    const hang: Checker = {
      provider: 'lke',
      goneMessage: 'gone',
      runLimits: { batchSize: 100, maxTasksPerRun: 2000 },
      check: () => new Promise(() => undefined),
    };
    void poll({ store, checker: hang, owner: 'doomed' }, { deadline: clock.now() + 60_000 }); // never completes
    await new Promise((resolve) => setTimeout(resolve, 300)); // it has claimed the batch and "died"
    expect(await run(lke())).toMatchObject({ claimed: 0 }); // leased to the dead poller
    clock.advance(60_000 + 30_000 + 1); // its deadline plus the lease grace
    expect(await run(lke())).toMatchObject({ claimed: 10, finished: 10 });
    for (const { task } of tracked) expect((await get(task.id)).status).toBe('succeeded');
  });

  describe('pipelined runs', () => {
    /** A checker that answers "running" for every task, and lets a test look around while it checks. */
    const scripted = (
      during: (tasks: TrackedTask[], batch: number) => Promise<'deadline' | void>,
    ): Checker => {
      let batch = 0;
      return {
        provider: 'lke',
        goneMessage: 'gone',
        runLimits: { batchSize: 10, maxTasksPerRun: 2000 },
        async check(tasks, _options, onOutcome) {
          const n = batch++;
          const outcomes = new Map<string, CheckOutcome>();
          for (const task of tasks) {
            const outcome: CheckOutcome = {
              kind: 'observed',
              observation: {
                status: 'running',
                upstreamStatus: 'RUNNING',
                result: null,
                message: '',
                checkedAt: new Date(clock.now()).toISOString(),
              },
            };
            outcomes.set(task.id, outcome);
            // The first half of the first batch is answered early: the next batch is claimed halfway through.
            if (n === 0 && tasks.indexOf(task) < tasks.length / 2) onOutcome?.(task, outcome);
          }
          if ((await during(tasks, n)) === 'deadline') {
            for (const task of tasks)
              outcomes.set(task.id, { kind: 'error', error: new DeadlineExceededError('late') });
          }
          return outcomes;
        },
      };
    };
    const within = async (ms: number, test: () => Promise<boolean>) => {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
        if (await test()) return true;
      return false;
    };

    it('claims the next batch while the current one is checked, and stores each answer as soon as it is known', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push((await track(store, lkeTask(`70${i}`))).task.id);
      const seen: { nextClaimed?: boolean; firstStored?: boolean } = {};
      const checker = scripted(async (tasks, n) => {
        if (n !== 0) return;
        seen.nextClaimed = await within(2000, async () => {
          const records = await Promise.all(ids.map(get));
          // Leased, or already stored by this run (its lease let go): this batch and the next.
          return records.filter((r) => r.lease !== null || r.status === 'running').length === 20;
        });
        seen.firstStored = await within(2000, async () => (await get(tasks[0]!.id)).status === 'running');
      });
      expect(await run(checker)).toMatchObject({ claimed: 30, checked: 30 });
      expect(seen).toEqual({ nextClaimed: true, firstStored: true });
    });

    it('gives deferred tasks back at once when the run runs out of time before asking about them', async () => {
      for (let i = 0; i < 30; i++) await track(store, lkeTask(`72${i}`));
      let batch = 0;
      const deferring: Checker = {
        provider: 'lke',
        goneMessage: 'gone',
        runLimits: { batchSize: 10, maxTasksPerRun: 2000 },
        async check(tasks, options) {
          const n = batch++;
          const outcomes = new Map<string, CheckOutcome>();
          for (const task of tasks) {
            // The first batch is deferred; in the second, the deferred ones run out of time, the new ones wait.
            const before = options.deferredBefore?.has(task.id) ?? false;
            outcomes.set(
              task.id,
              n === 0 || !before
                ? { kind: 'deferred' }
                : { kind: 'error', error: new DeadlineExceededError('late') },
            );
          }
          return outcomes;
        },
      };
      expect(await run(deferring)).toMatchObject({ checked: 0 });
      // Nothing is left leased to the run that stopped: another run takes all 30 now, not after the lease.
      expect(await run(lke())).toMatchObject({ claimed: 30, checked: 30 });
    });

    it('gives a batch claimed ahead back at once when the run runs out of time', async () => {
      for (let i = 0; i < 30; i++) await track(store, lkeTask(`71${i}`));
      const checker = scripted(async (_tasks, n) => {
        if (n !== 0) return;
        await new Promise((resolve) => setTimeout(resolve, 300)); // time for the next claim to land
        return 'deadline';
      });
      // The answers known before the deadline are stored; the rest of the batch and the next go back.
      expect(await run(checker)).toMatchObject({ claimed: 20, checked: 5 });
      // Nothing is left leased to the run that stopped: another run takes the other 25 now, not after the lease.
      expect(await run(lke())).toMatchObject({ claimed: 25, checked: 25 });
    });
  });

  it('two pollers started at once over 500 due tasks check each exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 500; i++) {
      ids.push((await track(store, lkeTask(String(1000 + i), 'RUNNING'))).task.id);
    }
    const [a, b]: [PollSummary, PollSummary] = await Promise.all([
      run(lke(), store, { owner: 'a' }),
      run(lke(), store, { owner: 'b' }),
    ]);
    expect(a.claimed + b.claimed).toBe(500);
    expect(a.checked + b.checked).toBe(500);
    expect(a.claimed).toBeGreaterThan(0);
    expect(b.claimed).toBeGreaterThan(0);
    const counts = [...sandbox.lke.checks.values()];
    expect(counts).toHaveLength(500);
    expect(counts.every((n) => n === 1)).toBe(true);
    const stored = await Promise.all(ids.map(get));
    expect(stored.every((t) => t.status === 'running' && t.attempts === 1 && t.lease === null)).toBe(true);
  }, 60_000);
});

describe('poll (SMH)', () => {
  it('checks tasks in one batched query per library and expires what SMH forgot (twice, an interval apart)', async () => {
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 202 });
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '2', status: 200, result: { path: ['a'] } });
    const ids = [];
    for (const taskId of ['1', '2', '3'])
      ids.push((await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, taskId))).task.id);
    const summary = await run(smh());
    expect(summary).toMatchObject({ claimed: 3, checked: 3, finished: 1, rescheduled: 2, failed: 0 });
    expect(sandbox.smh.taskRequests).toBe(1);
    expect(sandbox.smh.taskRequestLog[0]?.ids.sort()).toEqual(['1', '2', '3']);
    expect(await get(ids[0]!)).toMatchObject({ status: 'running', upstreamStatus: 202 });
    expect(await get(ids[1]!)).toMatchObject({ status: 'succeeded', result: { path: ['a'] } });
    expect(await get(ids[2]!)).toMatchObject({
      status: 'pending',
      strikes: { code: 'TaskNotFound', count: 1 },
    });
    clock.advance(60_000);
    expect(await run(smh())).toMatchObject({ claimed: 2, finished: 1 });
    expect(await get(ids[2]!)).toMatchObject({
      status: 'expired',
      message: expect.stringMatching(/no longer knows/),
    });
  });

  /** 400 running tasks tracked in 4 libraries (100 each, interleaved), and an SMH client that knows them. */
  async function runningInLibraries(prefix: string, firstId: number) {
    const libraries = [0, 1, 2, 3].map((n) => `${prefix}${n}`);
    for (const libraryId of libraries) sandbox.smh.setLibrary({ libraryId, secret: `secret-${libraryId}` });
    for (let i = 0; i < 400; i++) {
      const libraryId = libraries[i % libraries.length] as string;
      sandbox.smh.setTask({ libraryId, spaceId: '-', taskId: String(firstId + i), status: 202 });
      await track(store, smhIdentity({ libraryId, spaceId: '-' }, String(firstId + i)));
    }
    return smhClientFor(sandbox, {
      secrets: Object.fromEntries(libraries.map((libraryId) => [libraryId, `secret-${libraryId}`])),
    });
  }

  it("fills each library's requests: 400 due tasks in 4 libraries take one request of 100 ids per library", async () => {
    const client = await runningInLibraries('smhfill', 1000);
    const before = sandbox.smh.taskRequests;
    expect(await run(smhChecker(() => client))).toMatchObject({ claimed: 400, checked: 400 });
    // One claim of up to 2,000 (the SMH poller's batch) groups 100 ids per library; SMH takes 100 per request.
    expect(sandbox.smh.taskRequests - before).toBe(4);
  });

  it('defers a partial request to the next batch of the run, once: 400 tasks in 4 libraries claimed 150 at a time', async () => {
    const client = await runningInLibraries('smhpart', 2000);
    const before = sandbox.smh.taskRequests;
    const small = storeFor(dynamo, clock, { POLL_BATCH_SIZE: '150' });
    expect(
      await run(
        smhChecker(() => client),
        small,
      ),
    ).toMatchObject({ claimed: 400, checked: 400 });
    // Batch 1 (~37 a library) is deferred whole; batch 2 asks the deferred ones (never deferred twice) and
    // defers its own; the last batch asks the rest. Without deferring: 3 batches × 4 libraries = 12 requests.
    expect(sandbox.smh.taskRequests - before).toBe(8);
  });

  it('does not expire a task SMH left out once (a glitch), and can track an expired task again', async () => {
    const { task } = await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, '9'));
    await run(smh()); // SMH does not know 9 yet: one strike
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '9', status: 202 });
    clock.advance(60_000);
    await run(smh());
    expect(await get(task.id)).toMatchObject({ status: 'running', strikes: null });

    // Gone for real (twice), then back: tracking it again checks it again.
    const monthAgo = Date.now() - 31 * 86_400_000;
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '9', status: 500, finishedAt: monthAgo });
    for (let i = 0; i < 2; i++) {
      clock.set(Date.parse((await get(task.id)).nextCheckAt as string));
      await run(smh());
    }
    expect((await get(task.id)).status).toBe('expired');
    sandbox.smh.setTask({
      libraryId: LIB,
      spaceId: '-',
      taskId: '9',
      status: 200,
      result: [{ status: 200, path: ['x'] }],
    });
    const again = await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, '9'));
    expect(again).toMatchObject({
      created: false,
      task: { status: 'pending', nextCheckAt: expect.any(String) },
    });
    await run(smh());
    expect(await get(task.id)).toMatchObject({ status: 'succeeded', result: [{ status: 200, path: ['x'] }] });
    expect((await get(task.id)).history.map((h) => h.status)).toEqual([
      'pending',
      'running',
      'expired',
      'pending',
      'succeeded',
    ]);
  });

  it('never gives a task up for a 404 that names nothing (an unknown code, a page from a wrong host)', async () => {
    // Found by review: mapping such a 404 to UpstreamError (a documented code) made it a refusal of the task,
    // and three of them expired it: a misrouted library would have expired every task it had.
    const { task } = await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, '12'));
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '12', status: 202 });
    for (const fault of [
      { kind: 'status', status: 404, code: 'SomethingNew' },
      { kind: 'raw', status: 404, body: '<html><body>Not Found</body></html>', contentType: 'text/html' },
      { kind: 'status', status: 404, code: 'SomethingNew' },
      { kind: 'status', status: 404, code: 'SomethingNew' },
    ] as const) {
      sandbox.smh.clearFaults();
      sandbox.smh.inject(fault, 4);
      await run(smh());
      clock.set(Date.parse((await get(task.id)).nextCheckAt as string));
    }
    sandbox.smh.clearFaults();
    expect(await get(task.id)).toMatchObject({
      status: 'pending',
      strikes: null,
      attempts: 4,
      lastError: { code: 'UpstreamError' },
    });
    await run(smh());
    expect(await get(task.id)).toMatchObject({ status: 'running', lastError: null });
  });

  it('counts an unconfigured library as a failed check, without failing the others', async () => {
    const ok = await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, '1'));
    const missing = await track(store, smhIdentity({ libraryId: 'smhnosecret', spaceId: '-' }, '1'));
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 204 });
    const summary = await run(smh());
    expect(summary).toMatchObject({ claimed: 2, checked: 1, failed: 1, finished: 1 });
    expect(await get(ok.task.id)).toMatchObject({ status: 'succeeded' });
    expect(await get(missing.task.id)).toMatchObject({
      status: 'pending',
      lastError: { code: 'LibraryNotConfigured' },
    });
  });
});
