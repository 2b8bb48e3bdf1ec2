import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../../lib/errors';
import { deliverOutbox } from '../../lib/handover/deliver';
import { FileNotifier } from '../../lib/handover/notifier';
import { ExactNumber, parseJson, stringifyJson } from '../../lib/json';
import type { Observation, TrackedTask } from '../../lib/tracking/model';
import { lkeIdentity, recordObservation, smhIdentity, track } from '../../lib/tracking/service';
import { toItem, type TaskStore } from '../../lib/tracking/store';
import { itemSize } from '../../lib/tracking/item-size';
import { observe } from '../../lib/tracking/transitions';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';

let dynamo: LocalDynamo;
let clock: ReturnType<typeof testClock>;
let store: TaskStore;

beforeEach(async () => {
  dynamo = await startDynamo();
  clock = testClock();
  store = storeFor(dynamo, clock);
});
afterEach(() => dynamo.close());

const LKE = lkeIdentity({ taskId: '8', taskType: 'ModifyAttributeLabel', botBizId: '1767024172536168448' });
const reading = (
  status: Observation['status'],
  at: number,
  upstreamStatus: string | number = status,
): Observation => ({
  status,
  upstreamStatus,
  result: null,
  message: '',
  checkedAt: new Date(at).toISOString(),
});
const rawItem = async (id: string) =>
  (
    await DynamoDBDocumentClient.from(dynamo.client).send(
      new GetCommand({ TableName: 'tasks-test', Key: { id } }),
    )
  ).Item as Record<string, unknown>;

describe('TaskStore', () => {
  it('tracks idempotently under a stable id', async () => {
    const first = await track(store, LKE);
    const second = await track(store, { ...LKE });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.task.id).toBe(first.task.id);
    expect(first.task.id).toMatch(/^lke_[A-Za-z0-9_-]{24}$/);
    expect(first.task).toMatchObject({
      status: 'pending',
      attempts: 0,
      version: 1,
      history: [{ status: 'pending' }],
    });
  });

  it('gives different tasks different ids (space, user and task id all count)', async () => {
    const base = { libraryId: 'lib', spaceId: '-' };
    const identities = [
      smhIdentity(base, '1'),
      smhIdentity(base, '2'),
      smhIdentity({ ...base, spaceId: 's1' }, '1'),
      smhIdentity({ libraryId: 'lib' }, '1'),
      smhIdentity({ ...base, userId: 'u' }, '1'),
    ];
    const created = await Promise.all(identities.map((identity) => track(store, identity)));
    expect(created.every((c) => c.created)).toBe(true);
    expect(new Set(created.map((c) => c.task.id)).size).toBe(5);
  });

  it('keeps the due index sparse and sets the TTL only on finished records', async () => {
    const { task } = await track(store, LKE);
    expect(await rawItem(task.id)).toMatchObject({
      dueShard: expect.stringMatching(/^lke#[0-3]$/),
      dueAt: clock.now(),
    });
    expect(await rawItem(task.id)).not.toHaveProperty('expiresAt');
    const done = await store.update(task.id, (current, ctx) =>
      observe(current, reading('succeeded', clock.now(), 'SUCCESS'), ctx),
    );
    // Finished, but its notifications are owed: it stays in the index until they are delivered.
    expect(await rawItem(task.id)).toMatchObject({ dueAt: clock.now(), expiresAt: expect.any(Number) });
    const sink = new FileNotifier(join(mkdtempSync(join(tmpdir(), 'ttt-store-')), 'n.jsonl'));
    expect(await deliverOutbox(store, sink, done!.task)).toEqual({
      delivered: 2,
      deadLettered: 0,
      remaining: 0,
      settled: true,
    });
    const item = await rawItem(task.id);
    expect(item).not.toHaveProperty('dueShard');
    expect(item).not.toHaveProperty('dueAt');
    expect(item.expiresAt).toBe(Math.floor(clock.now() / 1000) + 30 * 86_400);
  });

  it('never lets an older reading overwrite a newer one, whatever order they are written in', async () => {
    const { task } = await track(store, LKE);
    const newer = reading('running', clock.now() + 2000, 'RUNNING');
    const older = reading('pending', clock.now() + 1000, 'PENDING');
    await store.update(task.id, (current, ctx) => observe(current, newer, ctx));
    const outcome = await store.update(task.id, (current, ctx) => observe(current, older, ctx));
    expect(outcome?.written).toBe(false);
    const stored = (await store.get(task.id)) as TrackedTask;
    expect(stored).toMatchObject({
      status: 'running',
      upstreamStatus: 'RUNNING',
      lastCheckedAt: newer.checkedAt,
    });
  });

  it('re-reads and re-applies when its condition fails, instead of overwriting', async () => {
    const { task: stale } = await track(store, LKE);
    // Another writer stores a newer reading after we read the record.
    await store.update(stale.id, (current, ctx) =>
      observe(current, reading('running', clock.now() + 5000), ctx),
    );
    // We write from the stale copy: our Put fails its condition, we read again, and our older reading is dropped
    // (an older unfinished one: a final reading is final whenever it was taken, see test/unit/transitions.test.ts).
    const outcome = await store.update(
      stale.id,
      (current, ctx) => observe(current, reading('pending', clock.now() + 1000), ctx),
      { current: stale },
    );
    expect(outcome?.written).toBe(false);
    expect(await store.get(stale.id)).toMatchObject({ status: 'running', version: 2 });
    // A newer reading from a stale copy is re-applied on the fresh record, keeping the other writer's history.
    const applied = await store.update(
      stale.id,
      (current, ctx) => observe(current, reading('succeeded', clock.now() + 9000), ctx),
      { current: stale },
    );
    expect(applied?.task).toMatchObject({ status: 'succeeded', version: 3 });
    expect(applied?.task.history.map((h) => h.status)).toEqual(['pending', 'running', 'succeeded']);
  });

  it('loses no update when many writers race on one record', async () => {
    const { task } = await track(store, LKE);
    const readings = Array.from({ length: 8 }, (_, i) => reading('running', clock.now() + 1000 + i * 10));
    await Promise.all(readings.map((r) => store.update(task.id, (current, ctx) => observe(current, r, ctx))));
    const stored = (await store.get(task.id)) as TrackedTask;
    expect(stored.lastCheckedAt).toBe(readings[7]?.checkedAt);
    expect(stored.attempts).toBeGreaterThanOrEqual(1);
    expect(stored.version).toBe(1 + stored.attempts);
  });

  it('records an on-demand reading: tracks an unfinished task, updates (never creates) a finished one', async () => {
    const created = await recordObservation(store, LKE, reading('running', clock.now(), 'RUNNING'));
    expect(created).toMatchObject({ status: 'running', attempts: 1 });
    expect(created?.history.map((h) => h.status)).toEqual(['pending', 'running']);
    const finished = await recordObservation(store, LKE, reading('succeeded', clock.now() + 10, 'SUCCESS'));
    expect(finished).toMatchObject({ status: 'succeeded', finishedAt: expect.any(String) });
    const other = lkeIdentity({ taskId: '9', taskType: 'X', botBizId: '1' });
    expect(await recordObservation(store, other, reading('succeeded', clock.now()))).toBeUndefined();
  });

  it('lists by provider and status, page by page', async () => {
    for (let i = 1; i <= 7; i++) {
      clock.advance(1);
      await track(store, lkeIdentity({ taskId: String(i), taskType: 'T', botBizId: '1' }));
    }
    for (let i = 1; i <= 3; i++)
      await track(store, smhIdentity({ libraryId: 'lib', spaceId: '-' }, String(i)));
    const done = await store.list({ provider: 'lke' });
    await store.update(done.items[0]!.id, (c, ctx) => observe(c, reading('failed', clock.now() + 1), ctx));

    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ limit: 4, nextToken });
      seen.push(...page.items.map((t) => t.id));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken && pages < 10);
    expect(new Set(seen).size).toBe(10);
    expect(seen).toHaveLength(10);
    expect((await store.list({ provider: 'smh' })).items).toHaveLength(3);
    expect((await store.list({ provider: 'lke', status: 'pending' })).items).toHaveLength(6);
    expect((await store.list({ status: 'failed' })).items.map((t) => t.identity.taskId)).toEqual([
      done.items[0]!.identity.taskId,
    ]);
  });

  it('rejects a forged nextToken', async () => {
    await expect(store.list({ nextToken: 'not-a-token' })).rejects.toBeInstanceOf(ValidationError);
    const forge = (cursor: unknown) => Buffer.from(JSON.stringify(cursor)).toString('base64url');
    for (const cursor of [
      { provider: 'x' },
      { provider: 'lke', key: { id: 1, provider: 'lke', listSk: 'a' } },
      { provider: 'lke', key: { id: 'a', provider: 'smh', listSk: 'a' } },
      { provider: 'lke', key: { id: 'a', provider: 'lke', listSk: 'a', extra: 'b' } },
      { provider: 'lke', key: 'id' },
    ]) {
      await expect(store.list({ nextToken: forge(cursor) })).rejects.toBeInstanceOf(ValidationError);
    }
  });

  it('stores and reads back numbers a double would change with every digit (an SMH result)', async () => {
    const SMH = smhIdentity({ libraryId: 'lib', spaceId: '-' }, '9007199254740993');
    const result = parseJson(
      '[{"status":200,"size":123456789012345678901234567890,"ids":[9007199254740993,2],"ratio":0.1234567890123456789}]',
    ) as TrackedTask['result'];
    const { task } = await track(store, SMH);
    await store.update(task.id, (current, ctx) =>
      observe(current, { ...reading('succeeded', clock.now() + 1, 200), result }, ctx),
    );
    const stored = (await store.get(task.id)) as TrackedTask;
    expect(stored.result).toEqual([
      {
        status: 200,
        size: new ExactNumber('123456789012345678901234567890'),
        ids: [new ExactNumber('9007199254740993'), 2],
        ratio: new ExactNumber('0.1234567890123456789'),
      },
    ]);
    expect(stringifyJson(stored.result)).toBe(
      '[{"status":200,"size":123456789012345678901234567890,"ids":[9007199254740993,2],"ratio":0.1234567890123456789}]',
    );
    // In the table itself: DynamoDB numbers, every digit.
    const raw = await dynamo.client.send(
      new GetItemCommand({ TableName: 'tasks-test', Key: { id: { S: task.id } } }),
    );
    expect(raw.Item?.result).toEqual({
      L: [
        {
          M: {
            status: { N: '200' },
            size: { N: '123456789012345678901234567890' },
            ids: { L: [{ N: '9007199254740993' }, { N: '2' }] },
            ratio: { N: '0.1234567890123456789' },
          },
        },
      ],
    });
  });
});

describe('TaskStore leases', () => {
  it('lets two claimers share due tasks without overlap', async () => {
    for (let i = 0; i < 60; i++)
      await track(store, lkeIdentity({ taskId: String(i), taskType: 'T', botBizId: '1' }));
    const until = clock.now() + 60_000;
    const [a, b] = await Promise.all([
      store.claimDue('lke', 'a', until, 100),
      store.claimDue('lke', 'b', until, 100),
    ]);
    const ids = [...a.tasks, ...b.tasks].map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(60);
    expect(await store.claimDue('lke', 'c', until, 100)).toEqual({ tasks: [], unsure: [] });
    expect(await store.claimDue('smh', 'c', until, 100)).toEqual({ tasks: [], unsure: [] });
  });

  it('claims records up to a byte budget (at least one), so a batch of large records cannot exhaust memory', async () => {
    for (let i = 0; i < 10; i++)
      await track(store, lkeIdentity({ taskId: String(900 + i), taskType: 'T', botBizId: '1' }));
    const one = itemSize(toItem((await store.list({ provider: 'lke' })).items[0]!, store.config).item);
    const until = clock.now() + 60_000;
    // Three and a half records' worth: the fourth passes the budget, and picking stops there.
    const tasks = async (claim: Promise<{ tasks: unknown[] }>) => (await claim).tasks;
    expect(
      await tasks(store.claimDue('lke', 'a', until, 100, new Set(), () => true, one * 3.5)),
    ).toHaveLength(4);
    expect(await tasks(store.claimDue('lke', 'b', until, 100, new Set(), () => true, 1))).toHaveLength(1);
    expect(await tasks(store.claimDue('lke', 'c', until, 100))).toHaveLength(5);
  });

  it('makes a task due again when its lease runs out (a crashed poller)', async () => {
    const { task } = await track(store, LKE);
    const [claimed] = (await store.claimDue('lke', 'crashed', clock.now() + 60_000, 10)).tasks;
    expect(claimed?.lease).toMatchObject({ owner: 'crashed' });
    clock.advance(59_000);
    expect((await store.claimDue('lke', 'next', clock.now() + 60_000, 10)).tasks).toEqual([]);
    clock.advance(2_000);
    const [again] = (await store.claimDue('lke', 'next', clock.now() + 60_000, 10)).tasks;
    expect(again).toMatchObject({ id: task.id, lease: { owner: 'next' } });
  });

  it('does not claim a task before its next check', async () => {
    const delayed = storeFor(dynamo, clock, { POLL_FIRST_DELAY_SECONDS: '30' });
    await track(delayed, LKE);
    expect((await delayed.claimDue('lke', 'p', clock.now() + 60_000, 10)).tasks).toEqual([]);
    clock.advance(30_000);
    expect((await delayed.claimDue('lke', 'p', clock.now() + 60_000, 10)).tasks).toHaveLength(1);
  });
});
