import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { lkeStatus } from '../../functions/lke/status';
import type { LkeClient } from '../../lib/lke/client';
import type { Sandbox } from '../../sandbox/server';
import { lambdaContext, httpEvent } from '../helpers/lambda';
import { captureLog } from '../helpers/log';
import { lkeClientFor, lkeSandbox, SECRET_ID, SECRET_KEY, SEED, SEED_ANSWER } from '../helpers/lke';

let sandbox: Sandbox;
let client: LkeClient;
let log: ReturnType<typeof captureLog>;
let handler: ReturnType<typeof lkeStatus>;

beforeEach(async () => {
  sandbox = await lkeSandbox();
  // A generous timeout, so that a loaded machine cannot turn another test's answer into a 504.
  client = lkeClientFor(sandbox, { env: { UPSTREAM_MAX_ATTEMPTS: '2', LKE_TIMEOUT_MS: '5000' } });
  log = captureLog();
  handler = lkeStatus({ lke: () => client, log });
});
afterEach(() => sandbox.close());

function get(taskId: string | undefined, query: Record<string, string>) {
  const path = `/lke/tasks/${taskId ?? ''}`;
  const event = httpEvent('GET', path, {
    routeKey: 'GET /lke/tasks/{taskId}',
    pathParameters: taskId === undefined ? {} : { taskId },
    query,
  });
  return handler(event, lambdaContext()) as Promise<APIGatewayProxyStructuredResultV2>;
}

const body = (response: APIGatewayProxyStructuredResultV2) => JSON.parse(response.body as string);

describe('lkeStatus over HTTP', () => {
  it('answers 200 with the normalized task', async () => {
    const response = await get('8', { botBizId: SEED.botBizId, taskType: SEED.taskType });
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({ 'content-type': 'application/json' });
    expect(body(response)).toEqual(SEED_ANSWER);
    expect(log.entries).toContainEqual(
      expect.objectContaining({
        level: 'info',
        extra: expect.objectContaining({ taskId: '8', status: 'succeeded' }),
      }),
    );
  });

  it.each([
    ['missing botBizId', '8', { taskType: 'ModifyAttributeLabel' }, 'botBizId is required'],
    ['missing taskType', '8', { botBizId: '1767024172536168448' }, 'taskType is required'],
    ['missing taskId', undefined, { botBizId: '1', taskType: 'A' }, 'taskId is required'],
    ['empty taskType', '8', { botBizId: '1', taskType: '' }, 'taskType must not be empty'],
    ['over-long taskType', '8', { botBizId: '1', taskType: 'A'.repeat(65) }, 'at most 64'],
    ['over-long botBizId', '8', { botBizId: '1'.repeat(21), taskType: 'A' }, 'at most 20'],
    ['letters in botBizId', '8', { botBizId: '17670x', taskType: 'A' }, 'digits only'],
    ['a path in taskId', '../8', { botBizId: '1', taskType: 'A' }, 'taskId must contain'],
    ['a space in taskType', '8', { botBizId: '1', taskType: 'Modify Label' }, 'taskType must contain'],
    ['unicode in taskType', '8', { botBizId: '1', taskType: 'Modifyé' }, 'taskType must contain'],
    ['a comma-joined duplicate', '8', { botBizId: '1,2', taskType: 'A' }, 'botBizId must contain'],
  ])('answers 400 for %s, with no upstream call', async (_, taskId, query, message) => {
    const response = await get(taskId, query);
    expect(response.statusCode).toBe(400);
    expect(response.headers).toMatchObject({ 'Content-Type': 'application/json' });
    expect(body(response)).toEqual({
      error: { code: 'InvalidParameter', message: expect.stringContaining(message) },
    });
    expect(sandbox.lke.requestCount).toBe(0);
  });

  it('names a query parameter given twice (API Gateway joins the values with a comma)', async () => {
    const event = httpEvent('GET', '/lke/tasks/8', {
      routeKey: 'GET /lke/tasks/{taskId}',
      pathParameters: { taskId: '8' },
      query: { botBizId: `${SEED.botBizId},2`, taskType: SEED.taskType },
    });
    event.rawQueryString = `botBizId=${SEED.botBizId}&taskType=${SEED.taskType}&botBizId=2`;
    const response = (await handler(event, lambdaContext())) as APIGatewayProxyStructuredResultV2;
    expect(response.statusCode).toBe(400);
    expect(body(response).error).toEqual({
      code: 'InvalidParameter',
      message: 'botBizId is given more than once in the query string; give it once',
    });
    expect(sandbox.lke.requestCount).toBe(0);
  });

  it('answers 502 for an upstream auth failure, without the secret anywhere', async () => {
    client = lkeClientFor(sandbox, { credential: { secretId: SECRET_ID, secretKey: 'wrong-key-123' } });
    const response = await get('8', { botBizId: SEED.botBizId, taskType: SEED.taskType });
    expect(response.statusCode).toBe(502);
    expect(body(response).error).toMatchObject({
      code: 'UpstreamAuthFailure',
      upstreamCode: 'AuthFailure.SignatureFailure',
      requestId: expect.any(String),
    });
    const everything = `${response.body}\n${log.text()}`;
    for (const secret of ['wrong-key-123', SECRET_KEY, SECRET_ID, 'Signature=', 'TC3-HMAC']) {
      expect(everything).not.toContain(secret);
    }
    expect(everything).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('answers 404 for a task LKE does not know', async () => {
    const response = await get('999', { botBizId: SEED.botBizId, taskType: SEED.taskType });
    expect(response.statusCode).toBe(404);
    expect(body(response).error.code).toBe('TaskNotFound');
  });

  it('answers 400 when LKE rejects a parameter', async () => {
    sandbox.lke.inject({
      kind: 'error',
      code: 'InvalidParameterValue',
      message: 'TaskType is not supported',
    });
    const response = await get('8', { botBizId: SEED.botBizId, taskType: 'NoSuchType' });
    expect(response.statusCode).toBe(400);
    expect(body(response).error).toMatchObject({
      code: 'UpstreamRejectedRequest',
      upstreamCode: 'InvalidParameterValue',
    });
  });

  it('answers 503 with Retry-After when throttled on every attempt', async () => {
    sandbox.lke.inject({ kind: 'error', code: 'RequestLimitExceeded' }, 2);
    const response = await get('8', { botBizId: SEED.botBizId, taskType: SEED.taskType });
    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'Retry-After': '1' });
    expect(body(response).error.code).toBe('UpstreamThrottled');
    expect(sandbox.lke.requestCount).toBe(2);
  });

  it('answers 504 when LKE does not answer in time', async () => {
    client = lkeClientFor(sandbox, { env: { UPSTREAM_MAX_ATTEMPTS: '2', LKE_TIMEOUT_MS: '200' } });
    sandbox.lke.inject({ kind: 'delay', ms: 1000 }, 2);
    const response = await get('8', { botBizId: SEED.botBizId, taskType: SEED.taskType });
    expect(response.statusCode).toBe(504);
    expect(body(response).error.code).toBe('UpstreamTimeout');
  });

  it('answers 502 for a malformed upstream body', async () => {
    sandbox.lke.inject({ kind: 'raw', status: 200, body: '<html>' }, 4); // every attempt
    const response = await get('8', { botBizId: SEED.botBizId, taskType: SEED.taskType });
    expect(response.statusCode).toBe(502);
    expect(body(response).error.code).toBe('UpstreamBadResponse');
  });

  it('answers 500 JSON, not a stack, for an unexpected error; the log has what happened and where', async () => {
    handler = lkeStatus({
      lke: () => {
        throw new TypeError('boom at /var/task/index.js:1');
      },
      log,
    });
    const response = await get('8', { botBizId: SEED.botBizId, taskType: SEED.taskType });
    expect(response.statusCode).toBe(500);
    expect(body(response).error).toEqual({
      code: 'InternalError',
      message: expect.stringContaining('logs of request'),
    });
    expect(JSON.stringify(body(response))).not.toContain('boom');
    const line = log.entries.find((e) => e.message === 'lkeStatus failed');
    expect(line?.extra).toMatchObject({
      code: 'InternalError',
      errorName: 'TypeError',
      error: 'boom at /var/task/index.js:1',
      where: expect.stringContaining('status-handler.test.ts'),
    });
  });
});

describe('lkeStatus invoked directly', () => {
  it('returns the same object without HTTP wrapping', async () => {
    const task = await handler({ ...SEED }, lambdaContext());
    expect(task).toMatchObject({
      provider: 'lke',
      taskId: '8',
      status: 'succeeded',
      upstreamStatus: 'SUCCESS',
    });
    expect(task).not.toHaveProperty('statusCode');
  });

  it('accepts a numeric taskId from a state machine payload', async () => {
    await expect(handler({ ...SEED, taskId: 8 }, lambdaContext())).resolves.toMatchObject({ taskId: '8' });
  });

  it('throws an error named by its code for bad input, with no upstream call and no stack', async () => {
    const error = (await handler({ taskId: '8' }, lambdaContext()).catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('InvalidParameter');
    // Every missing field at once, and the code first (serverless-offline reports errorType "Error").
    expect(error.message).toBe('InvalidParameter: taskType is required; botBizId is required');
    expect(error.stack).toBe('InvalidParameter: taskType is required; botBizId is required');
    expect(sandbox.lke.requestCount).toBe(0);
  });

  it('throws UpstreamThrottled so a state machine can Retry on it', async () => {
    sandbox.lke.inject({ kind: 'error', code: 'RequestLimitExceeded' }, 2);
    await expect(handler({ ...SEED }, lambdaContext())).rejects.toMatchObject({ name: 'UpstreamThrottled' });
  });

  it('rejects a payload that is not an object', async () => {
    await expect(handler('8', lambdaContext())).rejects.toMatchObject({ name: 'InvalidParameter' });
    await expect(handler(null, lambdaContext())).rejects.toMatchObject({ name: 'InvalidParameter' });
  });
});
