import { lkeIdentity, track } from '../../lib/tracking/service';
import type { Sandbox } from '../../sandbox/server';
import { acceptAll, captureAws, type AwsCapture } from '../helpers/aws-capture';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { lambdaContext } from '../helpers/lambda';
import { lkeSandbox, SECRET_ID, SECRET_KEY } from '../helpers/lke';

/**
 * The deployed `lkePoll` handler with nothing but `AWS_ENDPOINT_URL` pointing at one loopback endpoint, as a
 * LocalStack user sets it: every AWS call it makes (the table through our own client, SSM for its secret,
 * EventBridge and Step Functions for the hand-over) must arrive there, as with the AWS SDKs and the CLI.
 */
let dynamo: LocalDynamo;
let sandbox: Sandbox;
let aws: AwsCapture;
const saved = { ...process.env };

beforeAll(async () => {
  [dynamo, sandbox] = await Promise.all([startDynamo('endpoint-test'), lkeSandbox()]);
  aws = await captureAws(async (request) => {
    if (request.target.startsWith('DynamoDB_20120810.')) {
      // The table's calls go on to dynalite, as they would reach DynamoDB behind LocalStack.
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers))
        if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name))
          headers[name] = value;
      const answer = await fetch(dynamo.endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(request.body),
      });
      return { status: answer.status, body: await answer.json() };
    }
    if (request.target === 'AmazonSSM.GetParameter') {
      const value = JSON.stringify({ secretId: SECRET_ID, secretKey: SECRET_KEY });
      return {
        body: { Parameter: { Name: request.body.Name, Type: 'SecureString', Value: value, Version: 1 } },
      };
    }
    return acceptAll(request);
  });
});
afterAll(async () => {
  process.env = saved;
  await Promise.all([dynamo.close(), sandbox.close(), aws.close()]);
});

it('sends every AWS call of a function to AWS_ENDPOINT_URL when that is all that is set', async () => {
  const store = storeFor(dynamo, testClock(Date.now() - 60_000), { TABLE_NAME: 'endpoint-test' });
  sandbox.lke.setTask({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId: '77', status: 'SUCCESS' });
  await track(store, lkeIdentity({ botBizId: '1', taskType: 'ExportAttributeLabel', taskId: '77' }), {
    taskTokens: ['tok-endpoint-test'],
    heartbeat: false,
  });
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(saved))
    if (
      !/^(AWS_|DYNAMODB_ENDPOINT|EVENTBRIDGE_ENDPOINT|STEPFUNCTIONS_ENDPOINT|NOTIFY_SINK_FILE|TENCENTCLOUD_)/.test(
        key,
      )
    )
      env[key] = value;
  process.env = {
    ...env,
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIAFAKEFORTESTS',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-for-tests',
    TABLE_NAME: 'endpoint-test',
    TENCENTCLOUD_SECRET_PARAMETER: '/tencent-task-tracker/test/tencentcloud',
    LKE_ENDPOINT: sandbox.url,
    LKE_RATE_LIMIT_PER_SECOND: '1000',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  let summary: unknown;
  await jest.isolateModulesAsync(async () => {
    const { handler } = await import('../../functions/lke/poll');
    summary = await handler({}, lambdaContext(30_000));
  });
  expect(summary).toMatchObject({ claimed: 1, finished: 1, notified: 3 });
  const targets = new Set(aws.requests.map((r) => r.target));
  for (const target of [
    'DynamoDB_20120810.Query',
    'DynamoDB_20120810.PutItem',
    'AmazonSSM.GetParameter',
    'AWSEvents.PutEvents',
    'AWSStepFunctions.SendTaskSuccess',
  ])
    expect([target, targets.has(target)]).toEqual([target, true]);
  // Signed for the region, with the environment's keys, like every SDK call.
  for (const request of aws.requests)
    expect(request.headers.authorization).toMatch(/Credential=AKIAFAKEFORTESTS\/\d{8}\/us-east-1\//);
}, 60_000);
