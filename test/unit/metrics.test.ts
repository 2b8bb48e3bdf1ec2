import { lkePoll } from '../../functions/lke/poll';
import { lkeStatus } from '../../functions/lke/status';
import { metricsFor } from '../../functions/common/metrics';
import { lkeChecker } from '../../lib/tracking/checkers';
import { lkeIdentity, track } from '../../lib/tracking/service';
import type { Sandbox } from '../../sandbox/server';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { lkeClientFor, lkeSandbox, SEED } from '../helpers/lke';
import { captureLog } from '../helpers/log';
import { LkeClient } from '../../lib/lke/client';
import { lkeConfig } from '../../lib/config';
import { SECRET_ID, SECRET_KEY } from '../helpers/lke';

/**
 * Metrics are CloudWatch Embedded Metric Format lines on stdout (Powertools Metrics): CloudWatch Logs turns them
 * into metrics on AWS; locally they are printed as they are, and this test reads them back.
 */
interface Emf {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

let dynamo: LocalDynamo;
let sandbox: Sandbox;
let lines: string[];
let write: jest.SpyInstance;

beforeEach(async () => {
  [dynamo, sandbox] = await Promise.all([startDynamo(), lkeSandbox()]);
  lines = [];
  write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
});
afterEach(async () => {
  write.mockRestore();
  await Promise.all([dynamo.close(), sandbox.close()]);
});

const emf = () =>
  lines
    .flatMap((text) => text.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Emf);
const metric = (records: Emf[], name: string) =>
  records.find((r) => r._aws.CloudWatchMetrics[0]?.Metrics.some((m) => m.Name === name));

it('a poll run prints its counts, lag and outbox age, and upstream latency, under the service namespace by provider', async () => {
  const store = storeFor(dynamo, testClock());
  sandbox.lke.setTask({ ...SEED, taskId: '90', status: 'RUNNING' });
  await track(store, lkeIdentity({ ...SEED, taskId: '90' }));
  const metrics = metricsFor('lke');
  const client = new LkeClient({
    config: lkeConfig({ LKE_ENDPOINT: sandbox.url }),
    credentials: async () => ({ secretId: SECRET_ID, secretKey: SECRET_KEY }),
    metrics,
  });
  const handler = lkePoll({
    poller: () => ({ store, checker: lkeChecker(() => client), log: captureLog() }),
    log: captureLog(),
    metrics,
  });
  await handler({}, lambdaContext(30_000));
  const records = emf();
  const poll = metric(records, 'PollClaimed') as Emf;
  expect(poll._aws.CloudWatchMetrics[0]).toMatchObject({
    Namespace: 'tencent-task-tracker',
    Dimensions: [expect.arrayContaining(['service', 'provider'])],
  });
  expect(poll).toMatchObject({
    provider: 'lke',
    service: 'tencent-task-tracker',
    PollClaimed: 1,
    PollChecked: 1,
    PollChanged: 1,
    PollFailed: 0,
    PollThrottled: 0,
    PollDeadLettered: 0,
    PollLagMax: expect.any(Number),
    PollLagP50: expect.any(Number),
    OutboxOldestAge: 0,
    UpstreamLatency: expect.any(Number),
  });
  const units = Object.fromEntries(poll._aws.CloudWatchMetrics[0]!.Metrics.map((m) => [m.Name, m.Unit]));
  expect(units).toMatchObject({
    PollDuration: 'Milliseconds',
    PollLagMax: 'Seconds',
    UpstreamLatency: 'Milliseconds',
  });
});

it('on-demand calls print requests by status class and upstream errors by code', async () => {
  const metrics = metricsFor('lke');
  const client = lkeClientFor(sandbox, { metrics }); // the container's client reports to its metrics
  const handler = lkeStatus({ lke: () => client, log: captureLog(), metrics });
  const call = (query: Record<string, string>) =>
    handler(
      httpEvent('GET', '/lke/tasks/8', {
        routeKey: 'GET /lke/tasks/{taskId}',
        pathParameters: { taskId: '8' },
        query,
      }),
      lambdaContext(),
    );
  await call({ botBizId: SEED.botBizId, taskType: SEED.taskType });
  await call({ botBizId: 'x' });
  sandbox.lke.inject({ kind: 'error', code: 'FailedOperation' });
  await call({ botBizId: SEED.botBizId, taskType: SEED.taskType });
  const records = emf();
  const classes = records.filter((r) => r.Requests !== undefined).map((r) => [r.statusClass, r.Requests]);
  expect(classes).toEqual([
    ['2xx', 1],
    ['4xx', 1],
    ['5xx', 1],
  ]);
  expect(records.find((r) => r.UpstreamErrors !== undefined)).toMatchObject({
    code: 'FailedOperation',
    provider: 'lke',
  });
});
