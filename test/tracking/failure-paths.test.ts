import { DynamoDb } from '../../lib/aws/dynamodb';
import { lkeConfig } from '../../lib/config';
import { StoreUnavailableError } from '../../lib/errors';
import type { Notifier } from '../../lib/handover/notifier';
import { AwsNotifier } from '../../lib/handover/notifier';
import { ExactNumber } from '../../lib/json';
import { LkeClient, type LkeSdk } from '../../lib/lke/client';
import type { Quota } from '../../lib/lke/quota';
import { QuotaTable } from '../../lib/lke/quota-table';
import { lkeChecker } from '../../lib/tracking/checkers';
import type { Observation, TrackedTask } from '../../lib/tracking/model';
import { poll } from '../../lib/tracking/poller';
import { lkeIdentity, smhIdentity, track, trackReading } from '../../lib/tracking/service';
import { TaskStore } from '../../lib/tracking/store';
import { claim, failCheck, observe } from '../../lib/tracking/transitions';
import type { Sandbox } from '../../sandbox/server';
import { startDynamo, storeFor, testClock, testConfig, type LocalDynamo } from '../helpers/dynamo';
import { faultProxy, requestId } from '../helpers/fault-proxy';
import { lkeSandbox, SECRET_ID, SECRET_KEY } from '../helpers/lke';
import { captureLog } from '../helpers/log';

/**
 * The failure paths a review found in the core (issue 18), each with one fault at one await, against the real
 * table client and dynalite (through a proxy that fails requests or loses their answers). The simulation
 * (test/sim) finds them too: `test/sim/regressions.test.ts` pins the seeds that did.
 */
let dynamo: LocalDynamo;
let sandbox: Sandbox;
let clock: ReturnType<typeof testClock>;
let store: TaskStore;

beforeEach(async () => {
  [dynamo, sandbox] = await Promise.all([startDynamo(), lkeSandbox()]);
  clock = testClock();
  store = storeFor(dynamo, clock);
});
afterEach(async () => {
  await Promise.all([dynamo.close(), sandbox.close()]);
});

const BOT = '1767024172536168448';
const lkeTask = (taskId: string, status = 'RUNNING') => {
  sandbox.lke.setTask({ botBizId: BOT, taskType: 'ExportAttributeLabel', taskId, status });
  return lkeIdentity({ botBizId: BOT, taskType: 'ExportAttributeLabel', taskId });
};
const through = (url: string, overrides: Record<string, string> = {}) =>
  new TaskStore({ client: DynamoDb.local(url), config: testConfig(overrides), now: clock.now });
const get = async (id: string) => (await store.get(id)) as TrackedTask;
const checker = () => {
  const client = new LkeClient({
    config: lkeConfig({
      LKE_ENDPOINT: sandbox.url,
      LKE_RATE_LIMIT_PER_SECOND: '1000',
      UPSTREAM_RETRY_BASE_MS: '1',
    }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
    now: () => new Date(clock.now()), // readings are stamped on the store's clock, as on one machine
  });
  return lkeChecker(() => client);
};

describe('a claim that fails', () => {
  it('ahead of the batch being checked does not kill the process: that batch is stored, and the run ends StoreUnavailable', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await track(store, lkeTask(`10${i}`))).task.id);
    // The first claim's four shard queries pass; every later one fails (the next batch, claimed ahead).
    const proxy = await faultProxy(dynamo.endpoint, ({ operation, nth }) =>
      operation === 'Query' && nth >= 4 ? 'fail' : 'pass',
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const error = await poll(
        { store: through(proxy.url, { POLL_BATCH_SIZE: '3' }), checker: checker(), log: captureLog() },
        { deadline: clock.now() + 30_000 },
      ).catch((e: unknown) => e);
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      const records = await Promise.all(ids.map(get));
      expect(records.filter((r) => r.status === 'running' && r.attempts === 1)).toHaveLength(3);
      expect(records.filter((r) => r.lease !== null)).toHaveLength(0); // nothing left leased
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await proxy.close();
    }
  });

  it('part-way checks what it won, and gives back a claim whose answer never came: nothing stays leased', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await track(store, lkeTask(`20${i}`))).task.id);
    const [failing, unsure] = [ids[2], ids[4]] as [string, string];
    let unsureTries = 0;
    const proxy = await faultProxy(dynamo.endpoint, ({ operation, body }) => {
      if (operation !== 'PutItem') return 'pass';
      if (requestId(body) === failing) return 'fail'; // never applies, every try
      if (requestId(body) === unsure && body.ConditionExpression === '#v = :v' && unsureTries++ < 3)
        return unsureTries === 1 ? 'lose' : 'fail'; // applies once, and no answer ever comes back
      return 'pass';
    });
    try {
      const error = await poll(
        { store: through(proxy.url), checker: checker(), log: captureLog() },
        { deadline: clock.now() + 30_000 },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      const records = await Promise.all(ids.map(get));
      for (const record of records) expect(record.lease).toBeNull();
      const byId = new Map(records.map((r) => [r.id, r]));
      expect(byId.get(failing)).toMatchObject({ status: 'pending', attempts: 0 });
      // The claim that landed without an answer is given back (its pre-written check undone), due at once.
      expect(byId.get(unsure)).toMatchObject({ status: 'pending', attempts: 0, polls: 0 });
      expect(Date.parse(byId.get(unsure)?.nextCheckAt as string)).toBeLessThanOrEqual(clock.now());
      const checked = records.filter((r) => r.status === 'running');
      expect(checked.length).toBeGreaterThan(0);
      for (const record of checked) expect(record.attempts).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

describe('a write whose answer was lost while another writer landed after it', () => {
  const reading = (status: Observation['status'], at: number): Observation => ({
    status,
    upstreamStatus: status.toUpperCase(),
    result: null,
    message: '',
    checkedAt: new Date(at).toISOString(),
  });

  it('is still known as ours: a claim is won, a failed check counted once', async () => {
    const { task } = await track(store, lkeTask('250'));
    let lose = 2; // the claim, then the failed check's write
    const proxy = await faultProxy(
      dynamo.endpoint,
      ({ operation, body }) =>
        operation === 'PutItem' &&
        requestId(body) === task.id &&
        body.ConditionExpression === '#v = :v' &&
        lose-- > 0
          ? 'lose'
          : 'pass',
      // Before the client sends the write again, an on-demand read stores a reading (another writeId).
      async () => void (await trackReading(store, task.identity, reading('running', clock.advance(1)))),
    );
    try {
      const proxied = through(proxy.url);
      const claimed = await proxied.claimDue('lke', 'p', clock.now() + 60_000, 10);
      expect(claimed).toMatchObject({ tasks: [{ id: task.id, lease: { owner: 'p' } }], unsure: [] });
      await proxied.update(task.id, (current, ctx) => failCheck(current, { code: 'X', message: 'x' }, ctx), {
        current: claimed.tasks[0],
        owner: 'p',
      });
      // Two on-demand readings and one failed check: three, not four; the backoff counts one poller check.
      expect(await get(task.id)).toMatchObject({ attempts: 3, polls: 1, lease: null });
    } finally {
      await proxy.close();
    }
  });
});

describe('a poller that dies between claim and settle', () => {
  it('leaves no check counted that was not made: the next claim undoes it, and the backoff stays where it was', async () => {
    const { task } = await track(store, lkeTask('300'));
    await poll({ store, checker: checker() }, { deadline: clock.now() + 60_000 }); // pending → running
    clock.advance(60_000);
    // A poller claims the task for its check, pre-writing it, and dies.
    const claimed = await store.claimDue('lke', 'doomed', clock.now() + 90_000, 10);
    expect(claimed.tasks[0]).toMatchObject({ attempts: 2, polls: 2 });
    clock.advance(90_001 + 120_000); // its lease ends, and the pre-written next check is due
    await poll({ store, checker: checker() }, { deadline: clock.now() + 60_000 });
    // One check made after the first: attempts 2, polls 2, the next check one step after the second.
    expect(await get(task.id)).toMatchObject({ attempts: 2, polls: 2, lease: null });
    expect(Date.parse((await get(task.id)).nextCheckAt as string) - clock.now()).toBe(120_000);
  });

  it('keeps the unchanged checks a run made and left unwritten (its run record says so)', async () => {
    const { task } = await track(store, lkeTask('310'));
    const run = () =>
      poll(
        { store, checker: checker(), owner: 'r', notifier: delivered },
        { deadline: clock.now() + 60_000 },
      );
    await run(); // pending → running (written)
    clock.advance(60_000);
    await run(); // running, next check after 120 s
    clock.advance(120_000);
    expect(await run()).toMatchObject({ checked: 1, changed: 0 }); // unchanged: left as the claim wrote it
    const confirmed = await get(task.id);
    expect(confirmed).toMatchObject({
      attempts: 3,
      polls: 3,
      lease: { owner: 'r', check: expect.any(Object) },
    });
    clock.advance(240_000);
    await poll(
      { store, checker: checker(), owner: 'next', notifier: delivered },
      { deadline: clock.now() + 60_000 },
    );
    expect(await get(task.id)).toMatchObject({ attempts: 4, polls: 4 });
  });
});

describe('an on-demand reading taken while a poller holds the task', () => {
  const reading = (status: Observation['status'], at: number): Observation => ({
    status,
    upstreamStatus: status.toUpperCase(),
    result: null,
    message: '',
    checkedAt: new Date(at).toISOString(),
  });

  it('is never lost: a final one wins over the claim, an earlier one over its pre-written time', async () => {
    const { task } = await track(store, lkeTask('400'));
    const readAt = clock.now();
    clock.advance(1_000);
    await store.claimDue('lke', 'p', clock.now() + 60_000, 10); // the claim pre-writes a later lastCheckedAt
    // A running reading taken just before the claim, stored after it: it is the last check made.
    expect(
      await trackReading(store, lkeIdentity(task.identity as never), reading('running', readAt)),
    ).toEqual({
      trackingId: task.id,
    });
    expect(await get(task.id)).toMatchObject({ status: 'running' });
    // The poller's own check fails: its undo keeps the on-demand reading.
    await store.update(task.id, (current, ctx) => failCheck(current, { code: 'X', message: 'x' }, ctx), {
      owner: 'p',
    });
    expect(await get(task.id)).toMatchObject({ status: 'running', attempts: 2 });
  });

  it('of a final status is stored even when older than what the claim wrote, and takes the claim back', () => {
    const ctx = { now: Date.parse('2026-01-01T00:10:00Z'), schedule: testConfig(), owner: 'p' };
    const tracked = { ...newRecord(), lastCheckedAt: '2026-01-01T00:00:00.000Z', attempts: 1, polls: 1 };
    const claimed = claim(tracked, ctx, ctx.now + 60_000) as TrackedTask;
    const done = observe(claimed, reading('succeeded', ctx.now - 1_000), { ...ctx, owner: undefined });
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2, polls: 1, lease: null });
  });
});

describe('numbers and values the table cannot hold', () => {
  it('stores a reading whose result DynamoDB cannot hold, without the result, and says why (not an outage)', async () => {
    const identity = smhIdentity({ libraryId: 'lib', spaceId: '-' }, '7');
    await track(store, identity);
    const result = { deleteCount: new ExactNumber('1'.repeat(45)) };
    const note = await trackReading(store, identity, {
      status: 'succeeded',
      upstreamStatus: 200,
      result,
      message: '',
      checkedAt: new Date(clock.now()).toISOString(),
    });
    expect(note).toHaveProperty('trackingId');
    const record = await get(note.trackingId as string);
    expect(record).toMatchObject({
      status: 'succeeded',
      result: null,
      resultTruncated: { unstorable: expect.stringContaining('result.deleteCount') },
      lastError: { code: 'ResultNotStorable' },
    });
  });

  it('a call whose deadline is weeks away still gets its answer (no timer overflow)', async () => {
    const { task } = await track(store, lkeTask('500'));
    const far = store.within({ deadline: Date.now() + 40 * 86_400_000 });
    await expect(far.get(task.id)).resolves.toMatchObject({ id: task.id });
  });
});

describe('calls that could outlast the run', () => {
  const hang = (signal?: AbortSignal) =>
    new Promise<never>((_, reject) =>
      signal?.addEventListener('abort', () =>
        reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
      ),
    );

  it("an upstream attempt ends at the caller's deadline, not after its own 5 s", async () => {
    const client = new LkeClient({
      config: lkeConfig({ LKE_ENDPOINT: 'http://127.0.0.1:9', LKE_TIMEOUT_MS: '5000' }),
      credentials: async () => ({ secretId: 'AKIDx', secretKey: 'k' }),
      sdk: () => ({ request: (_action, _request, { signal }) => hang(signal) }),
    });
    const started = Date.now();
    const error = await client
      .getTaskStatus({ botBizId: '1', taskType: 'T', taskId: '1' }, { deadline: Date.now() + 300 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UpstreamTimeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a poll run whose hand-over hangs still returns before its deadline, the events owed, not counted as tried', async () => {
    // Found by review: the poller handed its outbox over without its hand-over signal, so a PutEvents that hung
    // held a write slot until Lambda killed the run (nothing given back, no run record).
    const sent: string[] = [];
    const notifier = new AwsNotifier({
      api: {
        putEvents: async (entries, options) => {
          sent.push(...entries.map((e) => e.DetailType ?? ''));
          return hang(options?.signal);
        },
        sendTaskSuccess: async (_input, options) => hang(options?.signal),
        sendTaskFailure: async (_input, options) => hang(options?.signal),
        sendTaskHeartbeat: async (_input, options) => hang(options?.signal),
      },
      busName: 'default',
    });
    const { task } = await track(store, lkeTask('501', 'SUCCESS'));
    const started = Date.now();
    const summary = await poll(
      { store, checker: checker(), log: captureLog(), notifier },
      { deadline: clock.now() + 4_000, claimMarginMs: 1_000, checkMarginMs: 1_000 },
    );
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(summary).toMatchObject({ checked: 1, finished: 1, notified: 0 });
    expect(sent.length).toBeGreaterThan(0);
    const record = await get(task.id);
    expect(record.status).toBe('succeeded');
    // Owed still (the sweep sends them), and the try that never got an answer counts once at most.
    expect(record.outbox.map((e) => (e.kind === 'event' ? e.detailType : e.kind))).toEqual([
      'Task Status Changed',
      'Task Succeeded',
    ]);
    expect(record.outbox.every((e) => e.attempts <= 1)).toBe(true);
  });

  it("a hand-over stops when the caller's time is up, and what it did not send is retried later", async () => {
    const calls: string[] = [];
    const notifier = new AwsNotifier({
      api: {
        putEvents: async (_entries, options) => {
          calls.push('PutEvents');
          return hang(options?.signal);
        },
        sendTaskSuccess: async (_input, options) => hang(options?.signal),
        sendTaskFailure: async (_input, options) => hang(options?.signal),
        sendTaskHeartbeat: async (_input, options) => hang(options?.signal),
      },
      busName: 'default',
    });
    const event = {
      id: 'e1',
      detailType: 'Task Succeeded',
      detail: '{}',
      time: new Date(),
      resultOmitted: false,
    };
    const started = Date.now();
    const results = await notifier.publish([event, { ...event, id: 'e2' }], {
      signal: AbortSignal.timeout(200),
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    // Both went out in one request that got no answer: one try each, retried later.
    expect([...results.values()].map((r) => r.outcome)).toEqual(['retry', 'retry']);
    // Nothing is sent once the time is up, and what was never sent is no try (its attempts stay as they were).
    const late = await notifier.publish([{ ...event, id: 'e3' }], { signal: AbortSignal.abort() });
    expect(late.size).toBe(0);
    expect(await notifier.heartbeat('tok', { signal: AbortSignal.timeout(100) })).toMatchObject({
      outcome: 'retry',
    });
  });
});

describe('the shared quota', () => {
  it('knows a return of slots landed when its answer was lost and the client sent it again', async () => {
    let lost = 0;
    const proxy = await faultProxy(dynamo.endpoint, ({ operation, body }) =>
      operation === 'UpdateItem' && String(body.UpdateExpression).includes('- :span') && lost++ === 0
        ? 'lose'
        : 'pass',
    );
    try {
      const table = new QuotaTable({ client: DynamoDb.local(proxy.url), tableName: testConfig().tableName });
      const reserved = await table.reserveSlots('lke', 10, 50, Date.now() + 60_000);
      if (!('first' in reserved)) throw new Error('no reservation');
      const end = reserved.next;
      // Applied once, recognised on the retry.
      expect(await table.returnSlots('lke', reserved.seq, 200)).toBe(reserved.seq + 1);
      const { Item } = await dynamo.table.send<{ Item?: { next: number } }>('GetItem', {
        TableName: testConfig().tableName,
        Key: { id: 'quota#lke' },
        ConsistentRead: true,
      });
      expect(Item?.next).toBe(end - 200);
    } finally {
      await proxy.close();
    }
  });

  it('never gives a return of slots twice, when someone books the same slots between its landing and the retry', async () => {
    const tableName = testConfig().tableName;
    const other = new QuotaTable({ client: dynamo.table, tableName });
    let lost = 0;
    const proxy = await faultProxy(
      dynamo.endpoint,
      ({ operation, body }) =>
        operation === 'UpdateItem' && String(body.UpdateExpression).includes('- :span') && lost++ === 0
          ? 'lose'
          : 'pass',
      // The return landed; before the client sends it again, another container books exactly those slots back.
      async () => void (await other.reserveSlots('lke', 4, 50, Date.now() + 60_000)),
    );
    try {
      const table = new QuotaTable({ client: DynamoDb.local(proxy.url), tableName });
      const reserved = await table.reserveSlots('lke', 10, 50, Date.now() + 60_000);
      if (!('first' in reserved)) throw new Error('no reservation');
      expect(await table.returnSlots('lke', reserved.seq, 200)).toBe(reserved.seq + 1);
      const { Item } = await dynamo.table.send<{ Item?: { next: number } }>('GetItem', {
        TableName: tableName,
        Key: { id: 'quota#lke' },
        ConsistentRead: true,
      });
      // Given back once (−200), booked again by the other (+200): the other's slots are still theirs.
      expect(Item?.next).toBe(reserved.next);
    } finally {
      await proxy.close();
    }
  });

  it('never gives back slots booked by another since, even when the next free slot is the same again', async () => {
    const tableName = testConfig().tableName;
    const mine = new QuotaTable({ client: dynamo.table, tableName });
    const other = new QuotaTable({ client: dynamo.table, tableName });
    const reserved = await mine.reserveSlots('lke', 10, 50, Date.now() + 60_000);
    if (!('first' in reserved)) throw new Error('no reservation');
    // Another container books 4 slots after mine and gives them back: the schedule's next free slot is where my
    // reservation left it, but the last 200 ms before it are mine, not free.
    const theirs = await other.reserveSlots('lke', 4, 50, Date.now() + 60_000);
    if (!('first' in theirs)) throw new Error('no reservation');
    expect(await other.returnSlots('lke', theirs.seq, 200)).toBe(theirs.seq + 1);
    // My return names the schedule as I left it: refused, my slots stay booked.
    expect(await mine.returnSlots('lke', reserved.seq, 200)).toBeUndefined();
    const { Item } = await dynamo.table.send<{ Item?: { next: number } }>('GetItem', {
      TableName: tableName,
      Key: { id: 'quota#lke' },
      ConsistentRead: true,
    });
    expect(Item?.next).toBe(reserved.next);
  });

  it('never lets one container send more than its limit in a second, when calls that waited fail open together', async () => {
    const sent: number[] = [];
    const sdk: LkeSdk = {
      request: async () => {
        sent.push(Date.now());
        return { Status: 'RUNNING', Message: '', Params: { CosPath: '' }, RequestId: 'r' };
      },
    };
    // The shared schedule answers nobody for 1.2 s, then fails open for every call waiting on it at once.
    const opened = new Promise((resolve) => setTimeout(resolve, 1_200));
    const quota: Quota = { acquire: async () => void (await opened) };
    const client = new LkeClient({
      config: lkeConfig({ LKE_ENDPOINT: 'http://127.0.0.1:9', LKE_RATE_LIMIT_PER_SECOND: '20' }),
      credentials: async () => ({ secretId: 'AKIDx', secretKey: 'k' }),
      quota,
      sdk: () => sdk,
    });
    await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        client.getTaskStatus({ botBizId: '1', taskType: 'T', taskId: String(n) }, { priority: 'poll' }),
      ),
    );
    expect(sent).toHaveLength(30);
    const most = Math.max(...sent.map((t) => sent.filter((u) => u >= t && u < t + 1000).length));
    expect(most).toBeLessThanOrEqual(20);
  });
});

/** A hand-over that takes everything (these tests are about the table, not AWS). */
const delivered: Notifier = {
  publish: async (events) => new Map(events.map((event) => [event.id, { outcome: 'done' as const }])),
  callback: async () => ({ outcome: 'done' }),
  heartbeat: async () => ({ outcome: 'done' }),
};

function newRecord(): TrackedTask {
  const now = '2026-01-01T00:00:00.000Z';
  return {
    id: 'lke_AAAAAAAAAAAAAAAAAAAAAAAA',
    identity: { provider: 'lke', botBizId: '1', taskType: 'T', taskId: '1' },
    status: 'running',
    upstreamStatus: 'RUNNING',
    result: null,
    resultTruncated: null,
    message: '',
    attempts: 0,
    polls: 0,
    strikes: null,
    lastError: null,
    firstSeenAt: now,
    trackedAt: now,
    lastCheckedAt: null,
    nextCheckAt: now,
    finishedAt: null,
    history: [{ status: 'pending', upstreamStatus: null, at: now }],
    version: 3,
    lease: null,
    notify: null,
    outbox: [],
    undelivered: [],
  };
}
