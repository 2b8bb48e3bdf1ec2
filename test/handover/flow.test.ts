import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { trackLke } from '../../functions/lke/track';
import { lkeConfig } from '../../lib/config';
import type { Notifier } from '../../lib/handover/notifier';
import { LkeClient } from '../../lib/lke/client';
import { lkeChecker } from '../../lib/tracking/checkers';
import type { TrackedTask } from '../../lib/tracking/model';
import { poll } from '../../lib/tracking/poller';
import { lkeIdentity, track } from '../../lib/tracking/service';
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

const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAZ1Bc2VjcmV0LXRhc2stdG9rZW4=';
const awsNotifier = (): Notifier => notifierFor(aws, log);
const checker = () => {
  const client = new LkeClient({
    config: lkeConfig({ LKE_ENDPOINT: sandbox.url, UPSTREAM_RETRY_BASE_MS: '1' }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
  });
  return lkeChecker(() => client);
};
const run = (notifier: Notifier = awsNotifier()) =>
  poll({ store, checker: checker(), notifier, log }, { deadline: clock.now() + 60_000 });
const lkeTask = (taskId: string, status: string, message = '') => {
  sandbox.lke.setTask({
    botBizId: '1',
    taskType: 'ExportAttributeLabel',
    taskId,
    status,
    message,
    cosPath: '',
  });
  return lkeIdentity({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId });
};
const calls = (target: string) => aws.requests.filter((r) => r.target === target);
const events = () =>
  calls('AWSEvents.PutEvents').flatMap((r) =>
    (r.body.Entries as { DetailType: string; Detail: string }[]).map((e) => ({
      detailType: e.DetailType,
      detail: JSON.parse(e.Detail) as Record<string, unknown> & { eventId: string },
    })),
  );
const get = async (id: string) => (await store.get(id)) as TrackedTask;

describe('hand-over from the poller', () => {
  it('publishes each status change, the terminal event, and calls back the waiting execution', async () => {
    const { task } = await track(store, lkeTask('1', 'RUNNING'), { taskTokens: [TOKEN], heartbeat: false });
    await run();
    sandbox.lke.setTask({
      botBizId: '1',
      taskType: 'ExportAttributeLabel',
      taskId: '1',
      status: 'SUCCESS',
      cosPath: 'cos://out',
    });
    clock.advance(60_000);
    const summary = await run();
    expect(summary).toMatchObject({ finished: 1, notified: 3 });

    expect(events().map((e) => [e.detailType, e.detail.status])).toEqual([
      ['Task Status Changed', 'running'],
      ['Task Status Changed', 'succeeded'],
      ['Task Succeeded', 'succeeded'],
    ]);
    const ids = events().map((e) => e.detail.eventId);
    expect(new Set(ids).size).toBe(3);
    expect(events()[2]?.detail).toMatchObject({ id: task.id, taskId: '1', result: { cosPath: 'cos://out' } });

    const [callback] = calls('AWSStepFunctions.SendTaskSuccess');
    expect(callback?.body.taskToken).toBe(TOKEN);
    expect(JSON.parse(callback?.body.output as string)).toMatchObject({ id: task.id, status: 'succeeded' });
    const stored = await get(task.id);
    expect(stored).toMatchObject({ outbox: [], undelivered: [], notify: null });
    expect(log.text()).not.toContain(TOKEN);
  });

  it('fails the waiting execution with TaskFailed or TaskExpired and a readable cause', async () => {
    await track(store, lkeTask('2', 'FAILED', 'label file is malformed'), {
      taskTokens: ['tok-fail'],
      heartbeat: false,
    });
    await track(store, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '404' }), {
      taskTokens: ['tok-gone'],
      heartbeat: false,
    });
    await run();
    clock.advance(60_000); // an unknown task is given up on its second answer, an interval later
    await run();
    const failures = calls('AWSStepFunctions.SendTaskFailure').map((r) => r.body);
    expect(failures).toEqual(
      expect.arrayContaining([
        {
          taskToken: 'tok-fail',
          error: 'TaskFailed',
          cause: expect.stringMatching(/^LKE task 2 \(tracking id lke_.*\) failed: label file is malformed$/),
        },
        {
          taskToken: 'tok-gone',
          error: 'TaskExpired',
          cause: expect.stringContaining('LKE does not know this task'),
        },
      ]),
    );
    expect(
      events()
        .map((e) => e.detailType)
        .sort(),
    ).toEqual(['Task Expired', 'Task Failed', 'Task Status Changed', 'Task Status Changed']);
  });

  it('loses nothing when the process dies between the status write and the notification', async () => {
    const { task } = await track(store, lkeTask('3', 'SUCCESS'), { taskTokens: [TOKEN], heartbeat: false });
    const dying: Notifier = {
      publish: () => new Promise(() => undefined), // the process is gone before anything is sent
      callback: () => new Promise(() => undefined),
      heartbeat: () => new Promise(() => undefined),
    };
    void run(dying);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const afterCrash = await get(task.id);
    expect(afterCrash.status).toBe('succeeded'); // the status write happened...
    expect(afterCrash.outbox.map((e) => e.kind)).toEqual(['event', 'event', 'callback']); // ...with what is owed
    const owed = afterCrash.outbox.map((e) => e.id);
    expect(aws.requests).toHaveLength(0);

    expect(await run()).toMatchObject({ claimed: 0 }); // the sweep waits a minute for the writer to deliver
    clock.advance(60_001);
    expect(await run()).toMatchObject({ claimed: 1, checked: 0, notified: 3 });
    expect(events().map((e) => e.detail.eventId)).toEqual(owed.slice(0, 2));
    expect(calls('AWSStepFunctions.SendTaskSuccess')).toHaveLength(1);
    expect((await get(task.id)).outbox).toEqual([]);
    clock.advance(3_600_000);
    expect(await run()).toMatchObject({ claimed: 0 }); // nothing left to do for it, ever
  });

  it('delivers every notification once, with the same ids, after a failing endpoint comes back', async () => {
    await track(store, lkeTask('4', 'SUCCESS'), { taskTokens: [TOKEN], heartbeat: false });
    await track(store, lkeTask('5', 'FAILED'));
    aws.respond = () => ({ status: 503, body: { __type: 'ServiceUnavailable', message: 'down' } });
    expect(await run()).toMatchObject({ finished: 2, notified: 0 });
    const attempted = new Set(events().map((e) => e.detail.eventId));
    expect(attempted.size).toBe(4);

    aws.requests.length = 0;
    aws.respond = acceptAll;
    clock.advance(30_000); // the first retry of an outbox comes 30 s later
    expect(await run()).toMatchObject({ claimed: 2, notified: 5 });
    const delivered = events().map((e) => e.detail.eventId);
    expect(new Set(delivered)).toEqual(attempted);
    expect(delivered).toHaveLength(4); // each accepted exactly once
    expect(calls('AWSStepFunctions.SendTaskSuccess')).toHaveLength(1);
    clock.advance(3_600_000);
    aws.requests.length = 0;
    await run();
    expect(aws.requests).toHaveLength(0);
  });

  it('drops a dead task token instead of retrying it forever', async () => {
    const { task } = await track(store, lkeTask('6', 'SUCCESS'), {
      taskTokens: ['tok-dead'],
      heartbeat: false,
    });
    aws.respond = (request) =>
      request.target.startsWith('AWSStepFunctions')
        ? { status: 400, body: { __type: 'TaskTimedOut', message: 'timed out' } }
        : acceptAll(request);
    expect(await run()).toMatchObject({ notified: 2, deadLettered: 1 });
    const stored = await get(task.id);
    expect(stored.outbox).toEqual([]);
    expect(stored.undelivered).toEqual([
      expect.objectContaining({
        kind: 'callback',
        code: 'TaskTimedOut',
        reason: expect.stringContaining('timed out'),
      }),
    ]);
    expect(log.text()).toContain('the execution no longer waits');
    expect(log.text()).not.toContain('tok-dead');
  });

  it('sends a heartbeat after each check when asked, and forgets a token Step Functions rejects', async () => {
    const { task } = await track(store, lkeTask('7', 'RUNNING'), {
      taskTokens: ['tok-alive'],
      heartbeat: true,
    });
    await run();
    expect(calls('AWSStepFunctions.SendTaskHeartbeat').map((r) => r.body)).toEqual([
      { taskToken: 'tok-alive' },
    ]);
    aws.respond = (request) =>
      request.target === 'AWSStepFunctions.SendTaskHeartbeat'
        ? { status: 400, body: { __type: 'TaskDoesNotExist', message: 'gone' } }
        : acceptAll(request);
    clock.advance(60_000);
    await run();
    expect((await get(task.id)).notify).toBeNull();
    expect(log.text()).toContain('waiter removed'); // never dropped without a word
    expect(log.text()).not.toContain('tok-alive');
  });
});

describe('tracking with a task token', () => {
  const body = (response: unknown) =>
    JSON.parse((response as APIGatewayProxyStructuredResultV2).body as string);

  it('accepts notify over HTTP, never echoes the token, and calls back a task that had already finished', async () => {
    const handler = trackLke({ store: () => store, log });
    const identity = { taskId: '9', taskType: 'ExportAttributeLabel', botBizId: '1' };
    lkeTask('9', 'SUCCESS');
    const first = body(
      await handler(
        httpEvent('POST', '/lke/tasks', {
          routeKey: 'POST /lke/tasks',
          body: { ...identity, notify: { taskToken: 'tok-a' } },
        }),
        lambdaContext(),
      ),
    );
    expect(first).toMatchObject({ waiters: 1, created: true });
    expect(JSON.stringify(first)).not.toContain('tok-a');
    await run();
    expect(calls('AWSStepFunctions.SendTaskSuccess').map((r) => r.body.taskToken)).toEqual(['tok-a']);

    // Direct invoke from a waitForTaskToken step after the task finished: the callback comes with the next poll.
    const again = (await handler({ ...identity, notify: { taskToken: 'tok-b' } }, lambdaContext())) as Record<
      string,
      unknown
    >;
    expect(again).toMatchObject({ status: 'succeeded', created: false });
    await run();
    expect(calls('AWSStepFunctions.SendTaskSuccess').map((r) => r.body.taskToken)).toEqual([
      'tok-a',
      'tok-b',
    ]);
  });

  it('rejects a malformed notify with 400', async () => {
    const handler = trackLke({ store: () => store, log });
    for (const notify of [
      { taskToken: '' },
      { taskToken: 'a b' },
      { taskToken: 'x'.repeat(2049) },
      { taskToken: 12345 },
      { taskToken: ['tok'] },
      'tok',
      { taskToken: 't', heartbeat: 'yes' },
    ]) {
      const response = (await handler(
        httpEvent('POST', '/lke/tasks', {
          routeKey: 'POST /lke/tasks',
          body: { taskId: '1', taskType: 'T', botBizId: '1', notify },
        }),
        lambdaContext(),
      )) as APIGatewayProxyStructuredResultV2;
      expect(response.statusCode).toBe(400);
    }
  });
});
