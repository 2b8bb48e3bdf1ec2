import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { lkeStatus } from '../../functions/lke/status';
import { trackLke } from '../../functions/lke/track';
import { lkePoll } from '../../functions/lke/poll';
import { smhStatus } from '../../functions/smh/status';
import { trackSmh } from '../../functions/smh/track';
import { getTask } from '../../functions/tasks/get';
import { listTasks } from '../../functions/tasks/list';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileNotifier } from '../../lib/handover/notifier';
import { lkeChecker } from '../../lib/tracking/checkers';
import type { TaskStore } from '../../lib/tracking/store';
import type { Sandbox } from '../../sandbox/server';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { lkeClientFor, lkeSandbox, SEED } from '../helpers/lke';
import { captureLog } from '../helpers/log';
import { LIB, LIB_SECRET, smhClientFor } from '../helpers/smh';

let dynamo: LocalDynamo;
let sandbox: Sandbox;
let store: TaskStore;
const log = captureLog();

beforeEach(async () => {
  [dynamo, sandbox] = await Promise.all([startDynamo(), lkeSandbox()]);
  sandbox.smh.setLibrary({ libraryId: LIB, secret: LIB_SECRET });
  store = storeFor(dynamo, testClock());
});
afterEach(async () => {
  await Promise.all([dynamo.close(), sandbox.close()]);
});

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
async function call(
  handler: Handler,
  method: string,
  routeKey: string,
  options: Parameters<typeof httpEvent>[2] = {},
) {
  const response = (await handler(
    httpEvent(method, '/x', { routeKey, ...options }),
    lambdaContext(),
  )) as APIGatewayProxyStructuredResultV2;
  return { status: response.statusCode, body: JSON.parse(response.body as string) };
}
const deps = () => ({ store: () => store, log });

describe('tracking API', () => {
  it('POST /lke/tasks tracks once: 201, then 200 with the same record', async () => {
    const first = await call(trackLke(deps()), 'POST', 'POST /lke/tasks', { body: SEED });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      id: expect.stringMatching(/^lke_/),
      provider: 'lke',
      ...SEED,
      status: 'pending',
      attempts: 0,
      created: true,
      history: [{ status: 'pending', upstreamStatus: null, at: expect.any(String) }],
    });
    const again = await call(trackLke(deps()), 'POST', 'POST /lke/tasks', { body: SEED });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, created: false });
  });

  it.each([
    ['no body', undefined, 'must be a JSON object'],
    ['invalid JSON', '{"taskId":', 'valid JSON'],
    ['an array', '[]', 'JSON object'],
    ['a bad botBizId', { ...SEED, botBizId: '12ab' }, 'botBizId'],
  ])('POST /lke/tasks answers 400 for %s', async (_, body, message) => {
    const response = await call(
      trackLke(deps()),
      'POST',
      'POST /lke/tasks',
      body === undefined ? {} : { body },
    );
    expect(response.status).toBe(400);
    expect(response.body.error.message).toContain(message);
  });

  it('POST /smh/tasks tracks each id; 201 when any is new, 200 when none is', async () => {
    const body = { libraryId: LIB, spaceId: '-', taskIds: ['10', '12'] };
    const first = await call(trackSmh(deps()), 'POST', 'POST /smh/tasks', { body });
    expect(first.status).toBe(201);
    expect(first.body.tasks).toHaveLength(2);
    expect(first.body.tasks[0]).toMatchObject({
      provider: 'smh',
      libraryId: LIB,
      spaceId: '-',
      taskId: '10',
      created: true,
    });
    const more = await call(trackSmh(deps()), 'POST', 'POST /smh/tasks', {
      body: { ...body, taskIds: ['12', '13'] },
    });
    expect(more.status).toBe(201);
    expect(more.body.tasks.map((t: { created: boolean }) => t.created)).toEqual([false, true]);
    const none = await call(trackSmh(deps()), 'POST', 'POST /smh/tasks', {
      body: { ...body, taskIds: ['13'] },
    });
    expect(none.status).toBe(200);
    const bad = await call(trackSmh(deps()), 'POST', 'POST /smh/tasks', {
      body: { ...body, taskIds: ['1/2'] },
    });
    expect(bad.status).toBe(400);
  });

  it('GET /tasks/{id} answers the record, 404 for an unknown id, 400 for a malformed one', async () => {
    const { body: created } = await call(trackLke(deps()), 'POST', 'POST /lke/tasks', { body: SEED });
    const found = await call(getTask(deps()), 'GET', 'GET /tasks/{id}', {
      pathParameters: { id: created.id },
    });
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({ id: created.id, status: 'pending', firstSeenAt: expect.any(String) });
    expect(found.body).not.toHaveProperty('version');
    expect(found.body).not.toHaveProperty('lease');
    const missing = await call(getTask(deps()), 'GET', 'GET /tasks/{id}', {
      pathParameters: { id: 'lke_AAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TaskNotTracked');
    const bad = await call(getTask(deps()), 'GET', 'GET /tasks/{id}', { pathParameters: { id: '../etc' } });
    expect(bad.status).toBe(400);
  });

  it('GET /tasks pages through records and validates its query', async () => {
    for (const taskId of ['1', '2', '3'])
      await call(trackLke(deps()), 'POST', 'POST /lke/tasks', { body: { ...SEED, taskId } });
    const first = await call(listTasks(deps()), 'GET', 'GET /tasks', {
      query: { provider: 'lke', limit: '2' },
    });
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    const second = await call(listTasks(deps()), 'GET', 'GET /tasks', {
      query: { provider: 'lke', limit: '2', nextToken: first.body.nextToken },
    });
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextToken).toBeUndefined();
    for (const query of <Record<string, string>[]>[
      { provider: 'aws' },
      { status: 'done' },
      { limit: '0' },
      { limit: '101' },
      { nextToken: '!!' },
    ]) {
      expect((await call(listTasks(deps()), 'GET', 'GET /tasks', { query })).status).toBe(400);
    }
  });

  it('?track=true on the on-demand GET tracks an unfinished LKE task and reports its trackingId', async () => {
    sandbox.lke.setTask({ ...SEED, taskId: '41', status: 'RUNNING' });
    const handler = lkeStatus({ lke: () => lkeClientFor(sandbox), ...deps() });
    const running = await call(handler, 'GET', 'GET /lke/tasks/{taskId}', {
      pathParameters: { taskId: '41' },
      query: { botBizId: SEED.botBizId, taskType: SEED.taskType, track: 'true' },
    });
    expect(running.body).toMatchObject({ status: 'running', trackingId: expect.stringMatching(/^lke_/) });
    expect(await store.get(running.body.trackingId)).toMatchObject({ status: 'running', attempts: 1 });

    const finished = await call(handler, 'GET', 'GET /lke/tasks/{taskId}', {
      pathParameters: { taskId: '8' },
      query: { botBizId: SEED.botBizId, taskType: SEED.taskType, track: 'true' },
    });
    expect(finished.body.status).toBe('succeeded');
    expect(finished.body).not.toHaveProperty('trackingId'); // finished and never tracked: nothing to track
    expect((await store.list()).items).toHaveLength(1);
    const invalid = await call(handler, 'GET', 'GET /lke/tasks/{taskId}', {
      pathParameters: { taskId: '8' },
      query: { botBizId: SEED.botBizId, taskType: SEED.taskType, track: 'yes' },
    });
    expect(invalid.status).toBe(400);
  });

  it('?track=true on the SMH GET tracks each unfinished task', async () => {
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 202 });
    sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '2', status: 200 });
    const handler = smhStatus({ smh: () => smhClientFor(sandbox), ...deps() });
    const response = await call(
      handler,
      'GET',
      'GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}',
      {
        pathParameters: { libraryId: LIB, spaceId: '-', taskIds: '1,2,3' },
        query: { track: 'true' },
      },
    );
    expect(response.body.tasks[0]).toMatchObject({
      taskId: '1',
      status: 'running',
      trackingId: expect.stringMatching(/^smh_/),
    });
    expect(response.body.tasks[1]).not.toHaveProperty('trackingId');
    expect(response.body.notFound).toEqual(['3']);
    expect((await store.list({ provider: 'smh' })).items.map((t) => t.identity.taskId)).toEqual(['1']);
  });

  it('lkePoll by direct invoke returns its summary', async () => {
    sandbox.lke.setTask({ ...SEED, taskId: '51', status: 'FAILED', message: 'bad label file' });
    await call(trackLke(deps()), 'POST', 'POST /lke/tasks', { body: { ...SEED, taskId: '51' } });
    const client = lkeClientFor(sandbox);
    const notifier = new FileNotifier(join(mkdtempSync(join(tmpdir(), 'ttt-api-')), 'n.jsonl'));
    const handler = lkePoll({
      poller: () => ({ store, checker: lkeChecker(() => client), log, notifier }),
      log,
    });
    const summary = await handler({}, lambdaContext(30_000));
    expect(summary).toEqual({
      claimed: 1,
      checked: 1,
      changed: 1,
      deadLettered: 0,
      lagMaxMs: expect.any(Number),
      lagP50Ms: expect.any(Number),
      outboxOldestAgeMs: 0,
      finished: 1,
      failed: 0,
      rescheduled: 0,
      throttled: 0,
      notified: 2, // Task Status Changed + Task Failed
      durationMs: expect.any(Number),
    });
    const [record] = (await store.list()).items;
    expect(record).toMatchObject({ status: 'failed', message: 'bad label file' });
    expect(log.entries).toContainEqual(
      expect.objectContaining({
        message: 'lkePoll done',
        extra: expect.objectContaining({ claimed: 1, finished: 1 }),
      }),
    );
  });
});
