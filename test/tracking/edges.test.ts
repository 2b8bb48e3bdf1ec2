import type { Notifier } from '../../lib/handover/notifier';
import { smhChecker, lkeChecker } from '../../lib/tracking/checkers';
import { MAX_ITEM_BYTES, valueSize } from '../../lib/tracking/item-size';
import type { TrackedTask } from '../../lib/tracking/model';
import { poll } from '../../lib/tracking/poller';
import { lkeIdentity, recordObservation, smhIdentity, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import { OUTBOX_MAX_ATTEMPTS } from '../../lib/tracking/transitions';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { acceptAll, captureAws, notifierFor, type AwsCapture } from '../helpers/aws-capture';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { lkeClientFor, SECRET_ID, SECRET_KEY } from '../helpers/lke';
import { captureLog } from '../helpers/log';
import { LIB, LIB_SECRET, smhClientFor } from '../helpers/smh';

/**
 * The edges of "nothing lost": results of any size, every waiter, every notification, every shard. Each test
 * here failed on the code before issue 11.
 */
let dynamo: LocalDynamo;
let sandbox: Sandbox;
let aws: AwsCapture;
let clock: ReturnType<typeof testClock>;
let store: TaskStore;
let log: ReturnType<typeof captureLog>;

beforeEach(async () => {
  [dynamo, sandbox, aws] = await Promise.all([
    startDynamo(),
    startSandbox({
      lke: { credentials: { [SECRET_ID]: { secretKey: SECRET_KEY } }, rateLimitPerSecond: 1_000_000 },
      smh: { libraries: [{ libraryId: LIB, secret: LIB_SECRET }] },
    }),
    captureAws(acceptAll),
  ]);
  clock = testClock();
  store = storeFor(dynamo, clock);
  log = captureLog();
});
afterEach(async () => {
  await Promise.all([dynamo.close(), sandbox.close(), aws.close()]);
});

const notifier = (): Notifier => notifierFor(aws, log);
const smh = () => {
  const client = smhClientFor(sandbox);
  return smhChecker(() => client);
};
const lke = () => {
  const client = lkeClientFor(sandbox, { env: { LKE_RATE_LIMIT_PER_SECOND: '1000' } });
  return lkeChecker(() => client);
};
const run = (checker = smh(), s: TaskStore = store) =>
  poll({ store: s, checker, notifier: notifier(), log }, { deadline: clock.now() + 60_000 });
const get = async (id: string) => (await store.get(id)) as TrackedTask;
const calls = (target: string) => aws.requests.filter((r) => r.target === target);
const refused = () => aws.requests.filter((r) => r.refused);
const eventDetails = () =>
  calls('AWSEvents.PutEvents').flatMap((r) =>
    (r.body.Entries as { Detail: string }[]).map((e) => JSON.parse(e.Detail) as Record<string, unknown>),
  );

/** An SMH batch result of `kb` KB of JSON: one item per path, as SMH answers a batch copy. */
const batchResult = (kb: number) => {
  const items: Record<string, unknown>[] = [];
  for (let n = 0, size = 2; size < kb * 1024; n++) {
    const name = `file-${String(n).padStart(6, '0')}.jpg`;
    const item =
      n % 7 === 0
        ? { status: 403, code: 'NoPermission', message: 'no permission', path: ['media', 'batch', name] }
        : { status: 200, path: ['media', 'batch', name], copyFrom: ['inbox', name] };
    items.push(item);
    size += Buffer.byteLength(JSON.stringify(item)) + 1;
  }
  return items;
};

const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAZ1Bc2VjcmV0LXRhc2stdG9rZW4=';

describe('results of any size', () => {
  it('stores a ~225 KB SMH result whole, and hands it over in requests AWS accepts', async () => {
    const result = batchResult(225);
    expect(Buffer.byteLength(JSON.stringify(result))).toBeGreaterThanOrEqual(225 * 1024);
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 200, result });
    const { task } = await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, '1'), {
      taskTokens: [TOKEN],
      heartbeat: false,
    });
    expect(await run()).toMatchObject({ finished: 1, notified: 3, deadLettered: 0 });
    const stored = await get(task.id);
    expect(stored).toMatchObject({ status: 'succeeded', resultTruncated: null });
    expect(stored.result).toEqual(result);
    expect(refused()).toEqual([]);
    expect(eventDetails().map((d) => d.status)).toEqual(['succeeded', 'succeeded']);
    for (const detail of eventDetails()) expect(detail.result).toEqual(result);
    const [callback] = calls('AWSStepFunctions.SendTaskSuccess');
    expect(JSON.parse(callback?.body.output as string).result).toEqual(result);
  });

  it('hands over a result too large for AWS without it, with a marker, and keeps it whole in the record', async () => {
    const result = batchResult(300);
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '2', status: 207, result });
    const { task } = await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, '2'), {
      taskTokens: [TOKEN],
      heartbeat: false,
    });
    await run();
    expect((await get(task.id)).result).toEqual(result);
    expect(refused()).toEqual([]);
    for (const detail of eventDetails()) expect(detail).toMatchObject({ result: null, resultOmitted: true });
    // A 207 is a failure: the callback is SendTaskFailure, which carries no result at all.
    expect(calls('AWSStepFunctions.SendTaskFailure')).toHaveLength(1);
  });

  it('cuts a result too large even for DynamoDB to a documented summary, and says so in the record', async () => {
    const result = batchResult(700);
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '3', status: 200, result });
    const { task } = await track(store, smhIdentity({ libraryId: LIB, spaceId: '-' }, '3'), {
      taskTokens: [TOKEN],
      heartbeat: false,
    });
    expect(await run()).toMatchObject({ finished: 1, failed: 0 });
    const stored = await get(task.id);
    expect(stored.status).toBe('succeeded');
    expect(stored.resultTruncated).toMatchObject({
      totalItems: result.length,
      originalBytes: valueSize(result),
    });
    const kept = stored.resultTruncated?.keptItems as number;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(result.length);
    expect(stored.result).toEqual(result.slice(0, kept)); // the leading items, in order
    expect(stored.resultTruncated?.storedBytes).toBeLessThanOrEqual(MAX_ITEM_BYTES);
    expect(refused()).toEqual([]);
    const [callback] = calls('AWSStepFunctions.SendTaskSuccess');
    expect(JSON.parse(callback?.body.output as string)).toMatchObject({
      status: 'succeeded',
      result: null,
      resultOmitted: true,
      resultTruncated: { keptItems: kept },
    });
  });

  it('tracks a big result on demand (?track=true path) instead of failing the write', async () => {
    const result = batchResult(600);
    const identity = smhIdentity({ libraryId: LIB, spaceId: '-' }, '4');
    const record = await recordObservation(store, identity, {
      status: 'running',
      upstreamStatus: 202,
      result,
      message: '',
      checkedAt: new Date(clock.now()).toISOString(),
    });
    expect(record).toMatchObject({ status: 'running', resultTruncated: { totalItems: result.length } });
  });
});

describe('every waiter', () => {
  it('keeps every waiter: 12 executions waiting on one task each get their callback', async () => {
    sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: '12', status: 'RUNNING' });
    const identity = lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '12' });
    const tokens = Array.from({ length: 12 }, (_, n) => `tok-${n}-${'x'.repeat(2000)}`);
    for (const token of tokens) await track(store, identity, { taskTokens: [token], heartbeat: false });
    expect((await get((await track(store, identity)).task.id)).notify?.taskTokens).toHaveLength(12);
    sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: '12', status: 'SUCCESS' });
    await run(lke());
    const called = calls('AWSStepFunctions.SendTaskSuccess').map((r) => r.body.taskToken);
    expect(called.sort()).toEqual([...tokens].sort());
    expect(refused()).toEqual([]);
  });

  it('refuses one waiter too many with 409 TooManyWaiters instead of dropping one silently', async () => {
    const identity = lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '26' });
    for (let n = 0; n < 25; n++) await track(store, identity, { taskTokens: [`tok-${n}`], heartbeat: false });
    const error = await track(store, identity, { taskTokens: ['tok-25'], heartbeat: false }).catch((e) => e);
    expect(error).toMatchObject({ code: 'TooManyWaiters', httpStatus: 409 });
    const stored = await get((await track(store, identity)).task.id);
    expect(stored.notify?.taskTokens).toEqual(Array.from({ length: 25 }, (_, n) => `tok-${n}`));
  });

  it('heartbeats after a check that failed, so a healthy task does not time out its execution', async () => {
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'T',
      taskId: '30',
      status: null,
      failWith: 'InternalError',
    });
    await track(store, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '30' }), {
      taskTokens: ['tok-hb'],
      heartbeat: true,
    });
    expect(await run(lke())).toMatchObject({ failed: 1 });
    expect(calls('AWSStepFunctions.SendTaskHeartbeat').map((r) => r.body.taskToken)).toEqual(['tok-hb']);
  });

  it('heartbeats after a throttled check too', async () => {
    sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: '31', status: 'RUNNING' });
    sandbox.lke.inject({ kind: 'error', code: 'RequestLimitExceeded' }, 4);
    await track(store, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '31' }), {
      taskTokens: ['tok-hb2'],
      heartbeat: true,
    });
    expect(
      await poll({ store, checker: lke(), notifier: notifier(), log }, { deadline: clock.now() + 12_000 }),
    ).toMatchObject({ throttled: 1 });
    expect(calls('AWSStepFunctions.SendTaskHeartbeat').map((r) => r.body.taskToken)).toEqual(['tok-hb2']);
  });
});

describe('every notification', () => {
  it('dead-letters a notification that keeps failing, after a bounded number of attempts, with the reason', async () => {
    aws.respond = (request) =>
      request.target === 'AWSEvents.PutEvents'
        ? { status: 500, body: { __type: 'InternalException', message: 'down' } }
        : acceptAll(request);
    sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: '40', status: 'SUCCESS' });
    const { task } = await track(store, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '40' }));
    await run(lke());
    for (let i = 0; i < OUTBOX_MAX_ATTEMPTS + 2; i++) {
      const due = (await get(task.id)).outbox.map((e) => Date.parse(e.nextAttemptAt));
      if (due.length === 0) break;
      clock.set(Math.min(...due));
      await run(lke());
    }
    const stored = await get(task.id);
    expect(stored.outbox).toEqual([]);
    expect(stored.undelivered.map((d) => [d.detailType, d.code, d.attempts])).toEqual([
      ['Task Status Changed', 'GaveUp', OUTBOX_MAX_ATTEMPTS],
      ['Task Succeeded', 'GaveUp', OUTBOX_MAX_ATTEMPTS],
    ]);
    expect(stored.undelivered[0]?.reason).toContain('InternalException');
    expect(
      log.entries.filter((e) => e.level === 'error' && e.message.includes('dead-lettered')),
    ).toHaveLength(2);
    // Nothing is due for this record any more: it leaves the due index.
    clock.advance(86_400_000);
    aws.requests.length = 0;
    expect(await run(lke())).toMatchObject({ claimed: 0 });
  });

  it('dead-letters a callback AWS refuses for good at once, and delivers the rest', async () => {
    aws.respond = (request) =>
      request.target === 'AWSStepFunctions.SendTaskSuccess'
        ? {
            status: 400,
            body: { __type: 'InvalidOutput', message: 'The provided JSON output data is invalid' },
          }
        : acceptAll(request);
    sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: '41', status: 'SUCCESS' });
    const { task } = await track(store, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '41' }), {
      taskTokens: ['tok-x'],
      heartbeat: false,
    });
    expect(await run(lke())).toMatchObject({ notified: 2, deadLettered: 1 });
    const stored = await get(task.id);
    expect(stored.outbox).toEqual([]);
    expect(stored.undelivered).toEqual([
      expect.objectContaining({ kind: 'callback', code: 'InvalidOutput', attempts: 1 }),
    ]);
    expect(JSON.stringify(stored.undelivered)).not.toContain('tok-x');
  });

  it('backs off per entry: a stuck callback does not hold back a fresh one queued after it', async () => {
    let stuck = true;
    aws.respond = (request) =>
      request.target === 'AWSStepFunctions.SendTaskSuccess' && request.body.taskToken === 'tok-stuck' && stuck
        ? { status: 500, body: { __type: 'ServiceUnavailable', message: 'down' } }
        : acceptAll(request);
    sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: '42', status: 'SUCCESS' });
    const identity = lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '42' });
    const { task } = await track(store, identity, { taskTokens: ['tok-stuck'], heartbeat: false });
    await run(lke());
    expect((await get(task.id)).outbox.map((e) => e.id)).toEqual([expect.stringMatching(/cb0$/)]);
    // A new waiter arrives while the stuck callback waits for its retry: it is delivered at the next poll.
    await track(store, identity, { taskTokens: ['tok-fresh'], heartbeat: false });
    aws.requests.length = 0;
    await run(lke());
    expect(calls('AWSStepFunctions.SendTaskSuccess').map((r) => r.body.taskToken)).toEqual(['tok-fresh']);
    stuck = false;
    clock.advance(30_000);
    await run(lke());
    expect(calls('AWSStepFunctions.SendTaskSuccess').map((r) => r.body.taskToken)).toEqual([
      'tok-fresh',
      'tok-stuck',
    ]);
    expect((await get(task.id)).outbox).toEqual([]);
  });
});

describe('the backoff follows the pollers', () => {
  it('on-demand reads do not push the poller to its longest interval', async () => {
    sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: '50', status: 'RUNNING' });
    const identity = lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '50' });
    const { task } = await track(store, identity);
    await run(lke());
    for (let n = 1; n <= 6; n++) {
      const reading = await lkeClientFor(sandbox).getTaskStatus({
        botBizId: '1',
        taskType: 'T',
        taskId: '50',
      });
      await recordObservation(store, identity, {
        ...reading,
        checkedAt: new Date(Date.now() + n).toISOString(),
      });
    }
    const afterReads = await get(task.id);
    expect(afterReads.attempts).toBe(7); // every check counts…
    clock.set(Date.parse(afterReads.nextCheckAt as string));
    await run(lke());
    // …but the second poll waits base × factor = 120 s, not the 900 s cap.
    expect(Date.parse((await get(task.id)).nextCheckAt as string) - clock.now()).toBe(120_000);
  });
});

describe('every shard', () => {
  it('claims the longest-due tasks first across shards: nothing waits for the shard it hashed to', async () => {
    const capped = storeFor(dynamo, clock, { POLL_MAX_TASKS_PER_RUN: '150', POLL_BATCH_SIZE: '50' });
    const due: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      sandbox.lke.setTask({ botBizId: '1', taskType: 'T', taskId: String(i), status: 'RUNNING' });
      const { task } = await track(capped, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: String(i) }));
      due[task.id] = clock.now();
      clock.advance(10);
    }
    clock.advance(1_000);
    const first = await run(lke(), capped);
    expect(first).toMatchObject({ claimed: 150, checked: 150 });
    const stored = await Promise.all(Object.keys(due).map(get));
    const done = stored.filter((t) => t.attempts === 1);
    const waiting = stored.filter((t) => t.attempts === 0);
    expect(done).toHaveLength(150);
    // Every task checked was due before every task left waiting.
    expect(Math.max(...done.map((t) => due[t.id] as number))).toBeLessThan(
      Math.min(...waiting.map((t) => due[t.id] as number)),
    );
    expect([...sandbox.lke.checks.values()].every((n) => n === 1)).toBe(true); // no task checked twice
  }, 60_000);

  it('claims records whatever DUE_SHARDS was set to when they were written', async () => {
    const writer = storeFor(dynamo, clock, { DUE_SHARDS: '16' });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      sandbox.lke.setTask({ botBizId: '2', taskType: 'T', taskId: String(i), status: 'SUCCESS' });
      ids.push(
        (await track(writer, lkeIdentity({ botBizId: '2', taskType: 'T', taskId: String(i) }))).task.id,
      );
    }
    const poller = storeFor(dynamo, clock, { DUE_SHARDS: '2' });
    expect(await run(lke(), poller)).toMatchObject({ claimed: 40, finished: 40 });
  });
});
