import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { smhStatus } from '../../functions/smh/status';
import { ExactNumber, parseJson } from '../../lib/json';
import type { SmhClient } from '../../lib/smh/client';
import type { TaskResult } from '../../lib/task';
import type { Sandbox } from '../../sandbox/server';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { captureLog } from '../helpers/log';
import { LIB, LIB_SECRET, setTasks, smhClientFor, smhSandbox } from '../helpers/smh';

let sandbox: Sandbox;
let client: SmhClient;
let log: ReturnType<typeof captureLog>;
let handler: ReturnType<typeof smhStatus>;

beforeEach(async () => {
  sandbox = await smhSandbox();
  setTasks(sandbox, [
    { taskId: '10', status: 202 },
    { taskId: '12', status: 200, result: { path: ['foo', 'test.pdf'] } },
  ]);
  log = captureLog();
  // A generous timeout: on a loaded machine a 200 ms one turned the 429 test's answer into a 504.
  client = smhClientFor(sandbox, { log, env: { UPSTREAM_MAX_ATTEMPTS: '2', SMH_TIMEOUT_MS: '5000' } });
  handler = smhStatus({ smh: () => client, log });
});
afterEach(() => sandbox.close());

function get(pathParameters: Record<string, string>, query: Record<string, string> = {}) {
  const route =
    pathParameters.spaceId === undefined
      ? 'GET /smh/libraries/{libraryId}/tasks/{taskIds}'
      : 'GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}';
  return handler(
    httpEvent('GET', '/smh/…', { routeKey: route, pathParameters, query }),
    lambdaContext(),
  ) as Promise<APIGatewayProxyStructuredResultV2>;
}
const body = (response: APIGatewayProxyStructuredResultV2) => JSON.parse(response.body as string);

describe('smhStatus over HTTP', () => {
  it('answers the tasks and the ids SMH does not know', async () => {
    const response = await get({ libraryId: LIB, spaceId: '-', taskIds: '12,10,99' });
    expect(response.statusCode).toBe(200);
    expect(body(response)).toEqual({
      tasks: [
        {
          provider: 'smh',
          libraryId: LIB,
          spaceId: '-',
          taskId: '12',
          status: 'succeeded',
          upstreamStatus: 200,
          result: { path: ['foo', 'test.pdf'] },
          message: '',
          checkedAt: expect.any(String),
        },
        expect.objectContaining({ taskId: '10', status: 'running', upstreamStatus: 202, result: null }),
      ],
      notFound: ['99'],
    });
  });

  it('serves the library-level route', async () => {
    sandbox.smh.setTask({ libraryId: LIB, spaceId: null, taskId: '70', status: 204 });
    const response = await get({ libraryId: LIB, taskIds: '70' });
    expect(body(response).tasks[0]).toMatchObject({ taskId: '70', spaceId: null, status: 'succeeded' });
  });

  it.each([
    ['a parent path in libraryId', { libraryId: '../x', spaceId: '-', taskIds: '1' }],
    ['a slash in libraryId', { libraryId: 'a/b', spaceId: '-', taskIds: '1' }],
    ['an encoded slash in libraryId', { libraryId: 'a%2Fb', spaceId: '-', taskIds: '1' }],
    ['a query in libraryId', { libraryId: 'lib?x=1', spaceId: '-', taskIds: '1' }],
    ['a fragment in spaceId', { libraryId: LIB, spaceId: 's#1', taskIds: '1' }],
    ['a comma in spaceId', { libraryId: LIB, spaceId: 'a,b', taskIds: '1' }],
    ['a space in spaceId', { libraryId: LIB, spaceId: 'a b', taskIds: '1' }],
    ['unicode in libraryId', { libraryId: 'bibliothèque', spaceId: '-', taskIds: '1' }],
    ['a non-numeric task id', { libraryId: LIB, spaceId: '-', taskIds: '10,abc' }],
    ['a zero task id', { libraryId: LIB, spaceId: '-', taskIds: '0' }],
    ['a negative task id', { libraryId: LIB, spaceId: '-', taskIds: '-1' }],
    ['an empty id in the list', { libraryId: LIB, spaceId: '-', taskIds: '1,,2' }],
    ['a path in the id list', { libraryId: LIB, spaceId: '-', taskIds: '1/../2' }],
    ['an encoded comma in an id', { libraryId: LIB, spaceId: '-', taskIds: '1%2C2' }],
    ['a 20-digit task id', { libraryId: LIB, spaceId: '-', taskIds: '1'.repeat(20) }],
    [
      '101 ids',
      { libraryId: LIB, spaceId: '-', taskIds: Array.from({ length: 101 }, (_, i) => i + 1).join(',') },
    ],
    ['an over-long libraryId', { libraryId: 'a'.repeat(65), spaceId: '-', taskIds: '1' }],
  ])('answers 400 for %s, and SMH receives nothing', async (_, params) => {
    const response = await get(params);
    expect(response.statusCode).toBe(400);
    expect(body(response).error.code).toBe('InvalidParameter');
    expect(sandbox.smh.requestCount).toBe(0);
  });

  it('answers 400 for a hostile userId, and SMH receives nothing', async () => {
    for (const userId of ['a b', 'a&access_token=x', 'ü', 'x'.repeat(129)]) {
      const response = await get({ libraryId: LIB, spaceId: '-', taskIds: '1' }, { userId });
      expect(response.statusCode).toBe(400);
    }
    expect(sandbox.smh.requestCount).toBe(0);
  });

  it('answers 404 with what to configure for a library without a secret', async () => {
    const response = await get({ libraryId: 'smhother', spaceId: '-', taskIds: '1' });
    expect(response.statusCode).toBe(404);
    expect(body(response).error).toEqual({
      code: 'LibraryNotConfigured',
      message: expect.stringContaining('SMH_LIBRARY_SECRETS'),
    });
    expect(sandbox.smh.requestCount).toBe(0);
  });

  it('answers 502 for a wrong library secret, without the secret anywhere', async () => {
    client = smhClientFor(sandbox, { log, secrets: { [LIB]: 'wrong-secret-000' } });
    const response = await get({ libraryId: LIB, spaceId: '-', taskIds: '1' });
    expect(response.statusCode).toBe(502);
    expect(body(response).error).toMatchObject({
      code: 'UpstreamAuthFailure',
      upstreamCode: 'WrongLibraryIdOrSecret',
    });
    expect(`${response.body}${log.text()}`).not.toMatch(/wrong-secret-000|alpha-library-secret/);
  });

  it('answers 503 with Retry-After when still rate limited after retries', async () => {
    sandbox.smh.inject({ kind: 'status', status: 429, code: 'RateLimitExceeded' }, 2);
    const response = await get({ libraryId: LIB, spaceId: '-', taskIds: '1' });
    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'Retry-After': '1' });
  });

  it('answers 504 when SMH is too slow', async () => {
    client = smhClientFor(sandbox, { log, env: { UPSTREAM_MAX_ATTEMPTS: '2', SMH_TIMEOUT_MS: '200' } });
    sandbox.smh.inject({ kind: 'delay', ms: 1000 }, 2);
    const response = await get({ libraryId: LIB, spaceId: '-', taskIds: '1' });
    expect(response.statusCode).toBe(504);
    expect(body(response).error.code).toBe('UpstreamTimeout');
  });

  it('never puts a token in a response or a log line', async () => {
    await get({ libraryId: LIB, spaceId: '-', taskIds: '10' });
    sandbox.smh.revokeTokens();
    const response = await get({ libraryId: LIB, spaceId: '-', taskIds: '10' });
    const written = `${response.body}\n${log.text()}`;
    expect(sandbox.smh.issuedTokens).toHaveLength(2);
    for (const secret of [...sandbox.smh.issuedTokens, LIB_SECRET]) expect(written).not.toContain(secret);
  });

  it('answers every digit of numbers a double would change, as JSON numbers', async () => {
    const result = '[{"status":200,"size":123456789012345678901234567890,"ids":[9007199254740993]}]';
    setTasks(sandbox, [{ taskId: '40', status: 200, result: parseJson(result) as TaskResult }]);
    const response = await get({ libraryId: LIB, spaceId: '-', taskIds: '40' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain(`"result":${result}`);
    expect(parseJson(response.body as string)).toMatchObject({
      tasks: [{ result: [{ size: new ExactNumber('123456789012345678901234567890') }] }],
    });
  });
});

describe('smhStatus invoked directly', () => {
  it('returns the same object for {"libraryId","spaceId","taskIds":[…]}', async () => {
    const result = await handler({ libraryId: LIB, spaceId: '-', taskIds: ['10', '12'] }, lambdaContext());
    expect(result).toMatchObject({
      tasks: [
        { taskId: '10', status: 'running' },
        { taskId: '12', status: 'succeeded' },
      ],
      notFound: [],
    });
  });

  it('accepts numeric ids and rejects bad ones by name', async () => {
    await expect(
      handler({ libraryId: LIB, spaceId: '-', taskIds: [10] }, lambdaContext()),
    ).resolves.toMatchObject({
      tasks: [{ taskId: '10' }],
    });
    await expect(handler({ libraryId: LIB, taskIds: [] }, lambdaContext())).rejects.toMatchObject({
      name: 'InvalidParameter',
      message: 'InvalidParameter: taskIds must not be empty',
    });
    expect(sandbox.smh.requestCount).toBe(2);
  });
});
