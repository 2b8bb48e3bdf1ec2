import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsNotifier, FileNotifier, tokenFingerprint } from '../../lib/handover/notifier';
import {
  callbackPayload,
  EVENT_SOURCE,
  prepareEvent,
  type CallbackPayload,
  type PreparedEvent,
} from '../../lib/handover/payloads';
import { parseJson } from '../../lib/json';
import type { EventEntry, TrackedTask } from '../../lib/tracking/model';
import { smhIdentity } from '../../lib/tracking/service';
import { newTask } from '../../lib/tracking/transitions';
import { testConfig } from '../helpers/dynamo';
import { acceptAll, captureAws, notifierFor, type AwsCapture } from '../helpers/aws-capture';
import { captureLog } from '../helpers/log';

let aws: AwsCapture;
let log: ReturnType<typeof captureLog>;
let notifier: AwsNotifier;

beforeEach(async () => {
  aws = await captureAws(acceptAll);
  log = captureLog();
  notifier = notifierFor(aws, log, 'ops-bus');
});
afterEach(() => aws.close());

const event = (n: number, detail: Record<string, unknown> = {}): PreparedEvent => ({
  id: `lke_x.v${n}.changed`,
  detailType: 'Task Status Changed',
  detail: JSON.stringify({
    eventId: `lke_x.v${n}.changed`,
    id: 'lke_x',
    provider: 'lke',
    taskId: '8',
    status: 'running',
    ...detail,
  }),
  time: new Date('2026-11-25T10:00:00.000Z'),
  resultOmitted: false,
});
const putEvents = () => aws.requests.filter((r) => r.target === 'AWSEvents.PutEvents');
const sentIds = () =>
  putEvents().flatMap((r) =>
    (r.body.Entries as { Detail: string }[]).map(
      (e) => (JSON.parse(e.Detail) as { eventId: string }).eventId,
    ),
  );
const outcomes = (results: Map<string, { outcome: string }>) =>
  Object.fromEntries([...results].map(([id, r]) => [id, r.outcome]));

describe('AwsNotifier → EventBridge (real SDK, loopback endpoint enforcing AWS limits)', () => {
  it('sends PutEvents with our source, detail type, bus and the prepared detail', async () => {
    const results = await notifier.publish([event(1)]);
    expect(outcomes(results)).toEqual({ 'lke_x.v1.changed': 'done' });
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

  it('sends at most 256 KB per request, so AWS accepts every request', async () => {
    const big = 'x'.repeat(100 * 1024);
    const results = await notifier.publish([1, 2, 3, 4, 5].map((n) => event(n, { result: { big } })));
    expect(Object.values(outcomes(results))).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(putEvents().map((r) => (r.body.Entries as unknown[]).length)).toEqual([2, 2, 1]);
    expect(putEvents().filter((r) => r.refused)).toEqual([]);
  });

  it('re-sends only the entries PutEvents reports as failed for a transient reason', async () => {
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
    const results = await notifier.publish([event(1), event(2), event(3)]);
    expect(Object.values(outcomes(results))).toEqual(['done', 'done', 'done']);
    expect(sentIds()).toEqual([
      'lke_x.v1.changed',
      'lke_x.v2.changed',
      'lke_x.v3.changed',
      'lke_x.v2.changed',
    ]);
  });

  it('calls an entry AWS refuses for good dead, with the reason, and does not re-send it', async () => {
    aws.respond = ({ body }) => ({
      body: {
        FailedEntryCount: 1,
        Entries: (body.Entries as unknown[]).map((_, n) =>
          n === 0
            ? { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' }
            : { EventId: 'ok' },
        ),
      },
    });
    const results = await notifier.publish([event(1), event(2)]);
    expect(results.get('lke_x.v1.changed')).toEqual({
      outcome: 'dead',
      code: 'MalformedDetail',
      reason: expect.stringContaining('Detail is malformed'),
    });
    expect(putEvents()).toHaveLength(1);
  });

  it('leaves what a failing endpoint never accepted for a later try, with the reason', async () => {
    aws.respond = () => ({ status: 500, body: { __type: 'InternalException', message: 'down' } });
    const results = await notifier.publish([event(1)]);
    expect(results.get('lke_x.v1.changed')).toEqual({
      outcome: 'retry',
      reason: expect.stringContaining('InternalException'),
    });
    expect(putEvents()).toHaveLength(3); // three rounds, then left for the sweep
  });
});

describe('AwsNotifier → Step Functions callbacks', () => {
  const token = 'AQCEAAAAKgAAAAMAAAAAAAAAAeToken+/=';
  const success: CallbackPayload = {
    kind: 'success',
    output: JSON.stringify({ id: 'lke_x', provider: 'lke', taskId: '8', status: 'succeeded' }),
    resultOmitted: false,
  };
  const failure: CallbackPayload = {
    kind: 'failure',
    error: 'TaskFailed',
    cause: 'LKE task 8 (tracking id lke_x) failed: bad file',
  };

  it('calls SendTaskSuccess with the record as output', async () => {
    expect(await notifier.callback(token, success)).toEqual({ outcome: 'done' });
    expect(aws.requests[0]).toMatchObject({
      target: 'AWSStepFunctions.SendTaskSuccess',
      body: { taskToken: token, output: success.kind === 'success' ? success.output : '' },
    });
  });

  it('calls SendTaskFailure with the error name and cause', async () => {
    expect(await notifier.callback('AQCEtoken-two', failure)).toEqual({ outcome: 'done' });
    expect(aws.requests[0]).toMatchObject({
      target: 'AWSStepFunctions.SendTaskFailure',
      body: {
        taskToken: 'AQCEtoken-two',
        error: 'TaskFailed',
        cause: 'LKE task 8 (tracking id lke_x) failed: bad file',
      },
    });
  });

  it.each(['TaskDoesNotExist', 'InvalidToken', 'TaskTimedOut', 'InvalidOutput'])(
    'calls a callback Step Functions answers %s for dead, never logging the token',
    async (type) => {
      aws.respond = () => ({ status: 400, body: { __type: type, message: 'no' } });
      expect(await notifier.callback(token, success)).toEqual({
        outcome: 'dead',
        code: type,
        reason: expect.stringContaining(type),
      });
      expect(log.text()).not.toContain(token);
    },
  );

  it('a payload AWS would refuse is refused by the capture endpoint too (and is dead, not retried)', async () => {
    const tooBig: CallbackPayload = {
      kind: 'success',
      output: JSON.stringify({ x: 'y'.repeat(300_000) }),
      resultOmitted: false,
    };
    expect(await notifier.callback(token, tooBig)).toMatchObject({
      outcome: 'dead',
      code: 'ValidationException',
    });
    expect(aws.requests[0]?.refused).toBe('ValidationException');
  });

  it('asks to retry on throttling or a server error, logging only the token fingerprint', async () => {
    aws.respond = () => ({ status: 400, body: { __type: 'ThrottlingException', message: 'slow' } });
    expect(await notifier.callback(token, failure)).toMatchObject({ outcome: 'retry' });
    aws.respond = () => ({ status: 500, body: { __type: 'ServiceUnavailable', message: 'down' } });
    expect(await notifier.heartbeat(token)).toMatchObject({ outcome: 'retry' });
    expect(log.text()).toContain(tokenFingerprint(token));
    expect(log.text()).not.toContain(token);
  });

  it('sends heartbeats', async () => {
    expect(await notifier.heartbeat('tok-h')).toEqual({ outcome: 'done' });
    expect(aws.requests[0]).toMatchObject({
      target: 'AWSStepFunctions.SendTaskHeartbeat',
      body: { taskToken: 'tok-h' },
    });
  });
});

describe('numbers a double would change are handed over with every digit', () => {
  const text = '[{"status":200,"size":123456789012345678901234567890,"ids":[9007199254740993]}]';
  const record = (): TrackedTask => {
    const created = newTask(smhIdentity({ libraryId: 'lib', spaceId: '-' }, '5'), {
      now: Date.parse('2026-11-25T10:00:00.000Z'),
      schedule: testConfig(),
      owner: 'poller',
    });
    return { ...created, status: 'succeeded', result: parseJson(text) as TrackedTask['result'] };
  };
  const entry: EventEntry = {
    id: 'smh_x.v2.final',
    kind: 'event',
    detailType: 'Task Succeeded',
    status: 'succeeded',
    upstreamStatus: 200,
    message: '',
    at: '2026-11-25T10:00:00.000Z',
    attempts: 0,
    nextAttemptAt: '2026-11-25T10:00:00.000Z',
  };

  it('to EventBridge and Step Functions (the text the SDK sends)', async () => {
    await notifier.publish([prepareEvent(record(), entry)]);
    await notifier.callback('tok-digits', callbackPayload(record()));
    const [sent] = putEvents()[0]!.body.Entries as { Detail: string }[];
    expect(sent!.Detail).toContain(`"result":${text}`);
    const success = aws.requests.find((r) => r.target === 'AWSStepFunctions.SendTaskSuccess');
    expect(success?.body.output).toContain(`"result":${text}`);
  });

  it('to the local sink file (npm start)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ttt-sink-')), 'n.jsonl');
    const sink = new FileNotifier(path);
    await sink.publish([prepareEvent(record(), entry)]);
    await sink.callback('tok-digits', callbackPayload(record()));
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toContain(`"result":${text}`);
  });
});
