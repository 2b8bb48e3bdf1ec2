import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { AwsNotifier, EVENT_SOURCE, tokenFingerprint } from '../../lib/handover/notifier';
import type { CallbackEntry, EventEntry } from '../../lib/tracking/model';
import { captureAws, fakeAwsConfig, type AwsCapture, type AwsResponder } from '../helpers/aws-capture';
import { captureLog } from '../helpers/log';

let aws: AwsCapture;
let log: ReturnType<typeof captureLog>;
let notifier: AwsNotifier;
const accept: AwsResponder = ({ target, body }) =>
  target === 'AWSEvents.PutEvents'
    ? {
        body: {
          FailedEntryCount: 0,
          Entries: (body.Entries as unknown[]).map((_, n) => ({ EventId: `evt-${n}` })),
        },
      }
    : { body: {} };

beforeEach(async () => {
  aws = await captureAws(accept);
  log = captureLog();
  notifier = new AwsNotifier({
    eventBridge: () => new EventBridgeClient(fakeAwsConfig(aws.endpoint)),
    sfn: () => new SFNClient(fakeAwsConfig(aws.endpoint)),
    busName: 'ops-bus',
    log,
  });
});
afterEach(() => aws.close());

const event = (n: number): EventEntry => ({
  id: `lke_x.v${n}.changed`,
  kind: 'event',
  detailType: 'Task Status Changed',
  detail: { id: 'lke_x', provider: 'lke', taskId: '8', status: 'running' },
  at: '2026-11-25T10:00:00.000Z',
  attempts: 0,
});
const putEvents = () => aws.requests.filter((r) => r.target === 'AWSEvents.PutEvents');
const sentIds = () =>
  putEvents().flatMap((r) =>
    (r.body.Entries as { Detail: string }[]).map(
      (e) => (JSON.parse(e.Detail) as { eventId: string }).eventId,
    ),
  );

describe('AwsNotifier → EventBridge (real SDK, loopback endpoint)', () => {
  it('sends PutEvents with our source, detail type, bus and the record plus a stable event id', async () => {
    const accepted = await notifier.publish([event(1)]);
    expect([...accepted]).toEqual(['lke_x.v1.changed']);
    const [entry] = putEvents()[0]!.body.Entries as Record<string, unknown>[];
    expect(entry).toMatchObject({
      Source: EVENT_SOURCE,
      DetailType: 'Task Status Changed',
      EventBusName: 'ops-bus',
    });
    expect(JSON.parse(entry!.Detail as string)).toEqual({
      eventId: 'lke_x.v1.changed',
      id: 'lke_x',
      provider: 'lke',
      taskId: '8',
      status: 'running',
    });
  });

  it('sends at most 10 entries per request', async () => {
    await notifier.publish(Array.from({ length: 23 }, (_, n) => event(n)));
    expect(putEvents().map((r) => (r.body.Entries as unknown[]).length)).toEqual([10, 10, 3]);
  });

  it('re-sends only the entries PutEvents reports as failed', async () => {
    let calls = 0;
    aws.respond = ({ body }) => {
      const entries = body.Entries as unknown[];
      calls++;
      return {
        body: {
          FailedEntryCount: calls === 1 ? 1 : 0,
          Entries: entries.map((_, n) =>
            calls === 1 && n === 1
              ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }
              : { EventId: `e${n}` },
          ),
        },
      };
    };
    const accepted = await notifier.publish([event(1), event(2), event(3)]);
    expect(accepted.size).toBe(3);
    expect(sentIds()).toEqual([
      'lke_x.v1.changed',
      'lke_x.v2.changed',
      'lke_x.v3.changed',
      'lke_x.v2.changed',
    ]);
  });

  it('keeps what a failing endpoint never accepted, and reports only what was accepted', async () => {
    aws.respond = () => ({ status: 500, body: { __type: 'InternalException', message: 'down' } });
    expect((await notifier.publish([event(1)])).size).toBe(0);
    expect(putEvents()).toHaveLength(3); // three rounds, then left for the sweep
    expect(log.text()).toContain('events left in the outbox');
  });
});

describe('AwsNotifier → Step Functions callbacks', () => {
  const success: CallbackEntry = {
    id: 'lke_x.v3.cb0',
    kind: 'callback',
    taskToken: 'AQCEAAAAKgAAAAMAAAAAAAAAAeToken+/=',
    outcome: 'success',
    output: { id: 'lke_x', provider: 'lke', taskId: '8', status: 'succeeded' },
    attempts: 0,
  };
  const failure: CallbackEntry = {
    id: 'lke_x.v3.cb1',
    kind: 'callback',
    taskToken: 'AQCEtoken-two',
    outcome: 'failure',
    error: 'TaskFailed',
    cause: 'LKE task 8 (tracking id lke_x) failed: bad file',
    attempts: 0,
  };

  it('calls SendTaskSuccess with the record as output', async () => {
    expect(await notifier.callback(success)).toBe('delivered');
    expect(aws.requests[0]).toMatchObject({
      target: 'AWSStepFunctions.SendTaskSuccess',
      body: { taskToken: success.taskToken, output: JSON.stringify(success.output) },
    });
  });

  it('calls SendTaskFailure with the error name and cause', async () => {
    expect(await notifier.callback(failure)).toBe('delivered');
    expect(aws.requests[0]).toMatchObject({
      target: 'AWSStepFunctions.SendTaskFailure',
      body: { taskToken: failure.taskToken, error: 'TaskFailed', cause: failure.cause },
    });
  });

  it.each(['TaskDoesNotExist', 'InvalidToken', 'TaskTimedOut'])(
    'drops a token Step Functions answers %s for, logging only its fingerprint',
    async (type) => {
      aws.respond = () => ({ status: 400, body: { __type: type, message: 'no' } });
      expect(await notifier.callback(success)).toBe('dropped');
      expect(log.text()).toContain(tokenFingerprint(success.taskToken));
      expect(log.text()).not.toContain(success.taskToken);
    },
  );

  it('asks to retry on throttling or a server error', async () => {
    aws.respond = () => ({ status: 400, body: { __type: 'ThrottlingException', message: 'slow' } });
    expect(await notifier.callback(failure)).toBe('retry');
    aws.respond = () => ({ status: 500, body: { __type: 'ServiceUnavailable', message: 'down' } });
    expect(await notifier.heartbeat(failure.taskToken)).toBe('retry');
    expect(log.text()).not.toContain(failure.taskToken);
  });

  it('sends heartbeats', async () => {
    expect(await notifier.heartbeat('tok-h')).toBe('delivered');
    expect(aws.requests[0]).toMatchObject({
      target: 'AWSStepFunctions.SendTaskHeartbeat',
      body: { taskToken: 'tok-h' },
    });
  });
});
