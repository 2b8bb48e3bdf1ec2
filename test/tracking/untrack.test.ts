import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { untrackTask } from '../../functions/tasks/untrack';
import { lkeConfig } from '../../lib/config';
import { TASK_EVENT } from '../../lib/contract-outputs';
import { LkeClient } from '../../lib/lke/client';
import { lkeChecker } from '../../lib/tracking/checkers';
import type { TrackedTask } from '../../lib/tracking/model';
import { poll } from '../../lib/tracking/poller';
import { lkeIdentity, recordObservation, track } from '../../lib/tracking/service';
import type { TaskStore } from '../../lib/tracking/store';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { acceptAll, captureAws, notifierFor, type AwsCapture } from '../helpers/aws-capture';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { SECRET_ID, SECRET_KEY } from '../helpers/lke';
import { captureLog } from '../helpers/log';

let dynamo: LocalDynamo;
let sandbox: Sandbox;
let aws: AwsCapture;
let clock: ReturnType<typeof testClock>;
let store: TaskStore;
let log: ReturnType<typeof captureLog>;

beforeEach(async () => {
  [dynamo, sandbox, aws] = await Promise.all([
    startDynamo(),
    startSandbox({ lke: { credentials: { [SECRET_ID]: { secretKey: SECRET_KEY } } } }),
    captureAws(acceptAll),
  ]);
  clock = testClock();
  store = storeFor(dynamo, clock);
  log = captureLog();
});
afterEach(async () => {
  await Promise.all([dynamo.close(), sandbox.close(), aws.close()]);
});

const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAZ1Bc2VjcmV0LXVudHJhY2stdG9rZW4=';
const handler = () => untrackTask({ store: () => store, log });
const lkeTask = (taskId: string, status = 'RUNNING') => {
  sandbox.lke.setTask({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId, status, cosPath: '' });
  return lkeIdentity({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId });
};
const run = () => {
  const client = new LkeClient({
    config: lkeConfig({ LKE_ENDPOINT: sandbox.url, UPSTREAM_RETRY_BASE_MS: '1' }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
  });
  return poll(
    { store, checker: lkeChecker(() => client), notifier: notifierFor(aws, log), log },
    { deadline: clock.now() + 60_000 },
  );
};
const del = async (id: string, requestId = 'req-untrack-1') =>
  (await handler()(
    httpEvent('DELETE', `/tasks/${id}`, { pathParameters: { id }, routeKey: 'DELETE /tasks/{id}' }),
    { ...lambdaContext(), awsRequestId: requestId },
  )) as APIGatewayProxyStructuredResultV2;
const calls = (target: string) => aws.requests.filter((r) => r.target === target);
const get = async (id: string) => (await store.get(id)) as TrackedTask;

describe('untracking a task (DELETE /tasks/{id}, untrackTask)', () => {
  it('ends it untracked, says by which request, and the poller hands it over: TaskUntracked, Task Untracked', async () => {
    const { task } = await track(store, lkeTask('1'), { taskTokens: [TOKEN], heartbeat: false });
    await run(); // checked once: running
    const sent = aws.requests.length;
    const answer = await del(task.id);
    expect(answer.statusCode).toBe(200);
    const body = JSON.parse(answer.body as string) as Record<string, unknown>;
    expect(body).toMatchObject({
      id: task.id,
      status: 'untracked',
      upstreamStatus: 'RUNNING',
      nextCheckAt: null,
      untracked: { at: expect.any(String), requestId: 'req-untrack-1' },
      waiters: 1,
    });
    expect(String(body.message)).toMatch(/^Untracked by request req-untrack-1: .*not cancelled/);
    expect((body.history as { status: string }[]).map((h) => h.status)).toEqual([
      'pending',
      'running',
      'untracked',
    ]);
    // This function holds no hand-over permission: nothing was sent yet, the record owes it.
    expect(aws.requests.length).toBe(sent);
    expect((await get(task.id)).outbox.map((e) => e.kind).sort()).toEqual(['callback', 'event', 'event']);

    const checksBefore = sandbox.lke.requestCount;
    clock.advance(120_000);
    const summary = await run();
    expect(summary).toMatchObject({ checked: 0, notified: 3 });
    expect(sandbox.lke.requestCount).toBe(checksBefore); // never checked again
    const [failure] = calls('AWSStepFunctions.SendTaskFailure');
    expect(calls('AWSStepFunctions.SendTaskFailure')).toHaveLength(1);
    expect(failure?.body).toEqual({
      taskToken: TOKEN,
      error: 'TaskUntracked',
      cause: expect.stringMatching(/^LKE task 1 \(tracking id lke_.*\) untracked: Untracked by request/),
    });
    const events = calls('AWSEvents.PutEvents')
      .slice(1)
      .flatMap((r) => r.body.Entries as { DetailType: string; Detail: string }[]);
    expect(events.map((e) => e.DetailType).sort()).toEqual(['Task Status Changed', 'Task Untracked']);
    for (const event of events) expect(TASK_EVENT.safeParse(JSON.parse(event.Detail)).success).toBe(true);
    expect(await get(task.id)).toMatchObject({ outbox: [], undelivered: [], notify: null });
    expect(log.text()).not.toContain(TOKEN);
  });

  it('is idempotent, keeps a finished task as it is, and answers 404 TaskNotTracked for an unknown id', async () => {
    const { task } = await track(store, lkeTask('2'));
    const first = JSON.parse((await del(task.id, 'req-a')).body as string) as TrackedTask;
    const version = (await get(task.id)).version;
    const second = await del(task.id, 'req-b');
    expect(second.statusCode).toBe(200);
    expect(JSON.parse(second.body as string)).toEqual(first); // the same record: req-a untracked it
    expect((await get(task.id)).version).toBe(version); // and nothing was written

    const { task: done } = await track(store, lkeTask('3', 'SUCCESS'));
    await run();
    const finished = JSON.parse((await del(done.id)).body as string) as Record<string, unknown>;
    expect(finished).toMatchObject({ status: 'succeeded' });
    expect(finished.untracked).toBeUndefined();

    const missing = await del('lke_AAAAAAAAAAAAAAAAAAAAAAAA');
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(missing.body as string)).toMatchObject({ error: { code: 'TaskNotTracked' } });
    const bad = await del('not-an-id');
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body as string)).toMatchObject({ error: { code: 'InvalidParameter' } });
  });

  it('resumes checking when the task is tracked again, or read with track=true', async () => {
    const identity = lkeTask('4');
    const { task } = await track(store, identity);
    await del(task.id);
    const again = await track(store, identity);
    expect(again.task).toMatchObject({ status: 'pending', nextCheckAt: expect.any(String) });
    expect(again.task.untracked).toBeUndefined();
    clock.advance(60_000);
    expect(await run()).toMatchObject({ checked: 1 });
    expect(await get(task.id)).toMatchObject({ status: 'running' });

    await del(task.id, 'req-c');
    const read = await recordObservation(store, identity, {
      status: 'running',
      upstreamStatus: 'RUNNING',
      result: null,
      message: '',
      checkedAt: new Date(clock.now()).toISOString(),
    });
    expect(read).toMatchObject({ status: 'running' });

    // A reading taken before the last check (it raced the poller), with track=true: nothing to store from it,
    // but the caller asked to track, so checks resume; before, it answered a trackingId on an untracked record.
    await del(task.id, 'req-d');
    const stale = await recordObservation(store, identity, {
      status: 'running',
      upstreamStatus: 'RUNNING',
      result: null,
      message: '',
      checkedAt: new Date(clock.now() - 3_600_000).toISOString(),
    });
    expect(stale).toMatchObject({ status: 'pending', nextCheckAt: expect.any(String) });
    expect(stale?.untracked).toBeUndefined();
    expect(await get(task.id)).toMatchObject({ status: 'pending' });
    // Reopened from when it was untracked, not from the older reading: its history stays in order.
    const history = (await get(task.id)).history.map((h) => h.at);
    expect(history).toEqual([...history].sort());
  });

  it("takes back a poller's check in flight: its outcome no longer applies", async () => {
    const { task } = await track(store, lkeTask('5'));
    clock.advance(60_000);
    const claim = await store.claimDue('lke', 'poller-x', clock.now() + 30_000, 10);
    expect(claim.tasks.map((t) => t.id)).toEqual([task.id]);
    const claimed = claim.tasks[0] as TrackedTask;
    expect(claimed.attempts).toBe(1); // written up front by the claim
    await del(task.id);
    const untracked = await get(task.id);
    expect(untracked).toMatchObject({ status: 'untracked', attempts: 0, lease: null });
    // The poller's reading arrives after: nothing changes.
    const { observe } = await import('../../lib/tracking/transitions');
    const outcome = await store.update(
      task.id,
      (current, ctx) =>
        observe(
          current,
          {
            status: 'succeeded',
            upstreamStatus: 'SUCCESS',
            result: null,
            message: '',
            checkedAt: new Date(clock.now()).toISOString(),
          },
          ctx,
        ),
      { owner: 'poller-x' },
    );
    expect(outcome).toMatchObject({ written: false });
    expect(await get(task.id)).toMatchObject({ status: 'untracked', version: untracked.version });
  });

  it('works by direct invoke, with errors a state machine can catch', async () => {
    const { task } = await track(store, lkeTask('6'));
    const result = (await handler()(
      { id: task.id },
      { ...lambdaContext(), awsRequestId: 'req-direct' },
    )) as TrackedTask;
    expect(result).toMatchObject({
      id: task.id,
      status: 'untracked',
      untracked: { requestId: 'req-direct' },
    });
    await expect(handler()({ id: 'lke_BBBBBBBBBBBBBBBBBBBBBBBB' }, lambdaContext())).rejects.toMatchObject({
      name: 'TaskNotTracked',
    });
  });
});
