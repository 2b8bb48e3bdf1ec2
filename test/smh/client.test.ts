import {
  ConfigurationError,
  UpstreamAuthError,
  UpstreamBadResponseError,
  UpstreamNotFoundError,
  UpstreamThrottledError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../../lib/errors';
import { ExactNumber, parseJson, stringifyJson } from '../../lib/json';
import { librarySecretProvider } from '../../lib/smh/secrets';
import type { TaskResult } from '../../lib/task';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { RETENTION_MS, TASK_REQUEST_LOG_SIZE } from '../../sandbox/smh';
import { captureLog } from '../helpers/log';
import {
  LIB,
  LIB2,
  LIB2_SECRET,
  LIB_SECRET,
  MULTI,
  setTasks,
  smhClientFor,
  smhSandbox,
} from '../helpers/smh';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await smhSandbox();
});
afterEach(() => sandbox.close());

describe('SmhClient access tokens', () => {
  it('mints a token on first use and reuses it', async () => {
    setTasks(sandbox, [{ taskId: '10', status: 202 }]);
    const client = smhClientFor(sandbox);
    await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['10'] });
    await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['10'] });
    expect(sandbox.smh.tokenRequests).toBe(1);
    expect(sandbox.smh.taskRequests).toBe(2);
  });

  it('mints once for concurrent callers', async () => {
    const client = smhClientFor(sandbox);
    await Promise.all(
      Array.from({ length: 10 }, () => client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['1'] })),
    );
    expect(sandbox.smh.tokenRequests).toBe(1);
  });

  it('refreshes a token shortly before it expires', async () => {
    let now = Date.now();
    const client = smhClientFor(sandbox, { now: () => now, env: { SMH_TOKEN_PERIOD_SECONDS: '600' } });
    await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['1'] });
    now += 539_000; // 600 s minus the 60 s margin, not yet
    await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['1'] });
    expect(sandbox.smh.tokenRequests).toBe(1);
    now += 2_000;
    await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['1'] });
    expect(sandbox.smh.tokenRequests).toBe(2);
  });

  it('drops a token SMH rejects (403 InvalidAccessToken) and retries once with a new one', async () => {
    setTasks(sandbox, [{ taskId: '10', status: 200, result: { path: ['a'] } }]);
    const client = smhClientFor(sandbox);
    await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['10'] });
    sandbox.smh.revokeTokens();
    const result = await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['10'] });
    expect(result.tasks[0]).toMatchObject({ taskId: '10', status: 'succeeded' });
    expect(sandbox.smh.tokenRequests).toBe(2);
    expect(sandbox.smh.taskRequests).toBe(3);
  });

  it('refreshes only once: a second InvalidAccessToken is an auth error', async () => {
    const client = smhClientFor(sandbox);
    sandbox.smh.inject({ kind: 'status', status: 403, code: 'InvalidAccessToken' }, 3);
    const error = await client
      .queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['1'] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamAuthError);
    expect(error).toMatchObject({ upstreamCode: 'InvalidAccessToken', httpStatus: 502 });
    expect(sandbox.smh.taskRequests).toBe(2);
    expect(sandbox.smh.tokenRequests).toBe(2);
  });

  it('keeps separate tokens for several libraries and spaces', async () => {
    setTasks(sandbox, [
      { libraryId: LIB, taskId: '1', status: 200 },
      { libraryId: LIB2, taskId: '2', status: 500 },
      { libraryId: MULTI, spaceId: 'space1', taskId: '3', status: 202 },
      { libraryId: MULTI, spaceId: 'space2', taskId: '4', status: 204 },
    ]);
    const client = smhClientFor(sandbox);
    const [a, b, c, d] = await Promise.all([
      client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['1'] }),
      client.queryTasks({ libraryId: LIB2, spaceId: '-', taskIds: ['2'] }),
      client.queryTasks({ libraryId: MULTI, spaceId: 'space1', taskIds: ['3'] }),
      client.queryTasks({ libraryId: MULTI, spaceId: 'space2', taskIds: ['4'] }),
    ]);
    expect([a, b, c, d].map((r) => r.tasks[0]?.status)).toEqual([
      'succeeded',
      'failed',
      'running',
      'succeeded',
    ]);
    expect(sandbox.smh.tokenRequests).toBe(4);
  });

  it('asks for a token with the user id and passes user_id on the query', async () => {
    const client = smhClientFor(sandbox);
    await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['1'], userId: 'alice@example' });
    expect(sandbox.smh.taskRequestLog[0]).toMatchObject({ userId: 'alice@example' });
  });
});

describe('SmhClient queries', () => {
  it('maps every status and keeps the number and the result', async () => {
    const result = {
      convertFrom: ['foo', 'test.docx'],
      path: ['foo', 'test.pdf'],
      srcInode: 'a',
      dstInode: 'b',
    };
    setTasks(sandbox, [
      { taskId: '1', status: 202 },
      { taskId: '2', status: 200, result },
      { taskId: '3', status: 204 },
      { taskId: '4', status: 500, result: { message: 'conversion failed: unsupported file' } },
      { taskId: '5', status: 207, result: { failed: ['x'] } },
      { taskId: '6', status: 400 },
      { taskId: '7', status: 299 },
    ]);
    const { tasks, notFound } = await smhClientFor(sandbox).queryTasks({
      libraryId: LIB,
      spaceId: '-',
      taskIds: ['1', '2', '3', '4', '5', '6', '7'],
    });
    expect(notFound).toEqual([]);
    expect(tasks.map((t) => [t.taskId, t.upstreamStatus, t.status])).toEqual([
      ['1', 202, 'running'],
      ['2', 200, 'succeeded'],
      ['3', 204, 'succeeded'],
      ['4', 500, 'failed'],
      ['5', 207, 'failed'],
      ['6', 400, 'failed'],
      ['7', 299, 'running'],
    ]);
    expect(tasks[1]).toEqual({
      provider: 'smh',
      libraryId: LIB,
      spaceId: '-',
      taskId: '2',
      status: 'succeeded',
      upstreamStatus: 200,
      result,
      message: '',
      checkedAt: expect.any(String),
    });
    expect(tasks[2]?.result).toBeNull();
    expect(tasks[3]?.message).toBe('conversion failed: unsupported file');
    expect(tasks[4]?.message).toMatch(/partly succeeded/);
  });

  it('queries library-level tasks on the library path', async () => {
    sandbox.smh.setTask({
      libraryId: LIB,
      spaceId: null,
      taskId: '70',
      status: 200,
      result: { deleteCount: 12 },
    });
    const { tasks } = await smhClientFor(sandbox).queryTasks({ libraryId: LIB, taskIds: ['70'] });
    expect(tasks[0]).toMatchObject({ spaceId: null, status: 'succeeded', result: { deleteCount: 12 } });
    expect(sandbox.smh.taskRequestLog[0]?.path).toBe(`/api/v1/task/${LIB}/70`);
  });

  it('reports ids SMH does not return as not found, including tasks past the 30-day window', async () => {
    setTasks(sandbox, [
      { taskId: '1', status: 200 },
      { taskId: '2', status: 200, finishedAt: Date.now() - RETENTION_MS - 60_000 },
      { taskId: '3', status: 200, finishedAt: Date.now() - RETENTION_MS + 60_000 },
    ]);
    const { tasks, notFound } = await smhClientFor(sandbox).queryTasks({
      libraryId: LIB,
      spaceId: '-',
      taskIds: ['1', '2', '3', '99'],
    });
    expect(tasks.map((t) => t.taskId)).toEqual(['1', '3']);
    expect(notFound).toEqual(['2', '99']);
  });

  it('batches 250 ids into requests of 100 and merges the answers in order', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => String(1000 + i));
    setTasks(
      sandbox,
      ids.filter((_, i) => i % 2 === 0).map((taskId) => ({ taskId, status: 200 })),
    );
    const { tasks, notFound } = await smhClientFor(sandbox).queryTasks({
      libraryId: LIB,
      spaceId: '-',
      taskIds: ids,
    });
    expect(sandbox.smh.taskRequestLog.map((r) => r.ids.length)).toEqual([100, 100, 50]);
    expect(sandbox.smh.taskRequestLog.flatMap((r) => r.ids).sort()).toEqual([...ids].sort());
    expect(tasks.map((t) => t.taskId)).toEqual(ids.filter((_, i) => i % 2 === 0));
    expect(notFound).toEqual(ids.filter((_, i) => i % 2 === 1));
    expect(sandbox.smh.tokenRequests).toBe(1);
  });
});

describe('SmhClient numbers beyond what a double keeps', () => {
  const BIG_RESULT =
    '{"size":123456789012345678901234567890,"ids":[9007199254740993,12],"ratio":0.12345678901234567891,"huge":1e400}';

  it('answers every digit SMH sent, and writes them back as JSON numbers', async () => {
    // The sandbox keeps the result as it was given (ExactNumbers) and sends its digits as they are.
    setTasks(sandbox, [{ taskId: '31', status: 200, result: parseJson(BIG_RESULT) as TaskResult }]);
    const answer = await smhClientFor(sandbox).queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['31'] });
    expect(answer.tasks[0]?.result).toEqual({
      size: new ExactNumber('123456789012345678901234567890'),
      ids: [new ExactNumber('9007199254740993'), 12],
      ratio: new ExactNumber('0.12345678901234567891'),
      huge: new ExactNumber('1e400'),
    });
    expect(stringifyJson(answer)).toContain(`"result":${BIG_RESULT}`);
  });

  it('keeps them from the raw answer text too (as set over the sandbox admin API)', async () => {
    const put = await fetch(`${sandbox.url}/_sandbox/smh/tasks`, {
      method: 'PUT',
      body: `{"libraryId":"${LIB}","spaceId":"-","taskId":"32","status":200,"result":[${BIG_RESULT}]}`,
    });
    expect(put.status).toBe(200);
    expect(await put.text()).toContain(BIG_RESULT);
    sandbox.smh.inject({
      kind: 'raw',
      status: 200,
      body: `[{"taskId":33,"status":207,"result":[{"status":200,"size":98765432109876543210}]}]`,
    });
    const client = smhClientFor(sandbox);
    const raw = await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['33'] });
    expect(stringifyJson(raw.tasks[0]?.result)).toBe('[{"status":200,"size":98765432109876543210}]');
    const set = await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['32'] });
    expect(stringifyJson(set.tasks[0]?.result)).toBe(`[${BIG_RESULT}]`);
  });

  it('finds tasks whose ids are beyond 2^53 (SMH ids have up to 19 digits, sent as JSON numbers)', async () => {
    const ids = ['9007199254740993', '1234567890123456789'];
    setTasks(sandbox, [
      { taskId: ids[0], status: 200, result: { deleteCount: 1 } },
      { taskId: ids[1], status: 202 },
    ]);
    const answer = await smhClientFor(sandbox).queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ids });
    expect(answer.notFound).toEqual([]);
    expect(answer.tasks.map((t) => [t.taskId, t.status])).toEqual([
      [ids[0], 'succeeded'],
      [ids[1], 'running'],
    ]);
  });
});

describe('SmhClient errors', () => {
  const q = { libraryId: LIB, spaceId: '-', taskIds: ['1'] };

  it('retries 429 RateLimitExceeded and then succeeds', async () => {
    sandbox.smh.inject({ kind: 'status', status: 429, code: 'RateLimitExceeded' }, 2);
    await expect(smhClientFor(sandbox).queryTasks(q)).resolves.toMatchObject({ notFound: ['1'] });
    expect(sandbox.smh.taskRequests).toBe(3);
  });

  it('gives up on 429 after the configured attempts, keeping code and request id', async () => {
    sandbox.smh.inject({ kind: 'status', status: 429, code: 'RateLimitExceeded' }, 10);
    const error = await smhClientFor(sandbox, { env: { UPSTREAM_MAX_ATTEMPTS: '3' } })
      .queryTasks(q)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamThrottledError);
    expect(error).toMatchObject({
      upstreamCode: 'RateLimitExceeded',
      requestId: expect.any(String),
      httpStatus: 503,
    });
    expect(sandbox.smh.taskRequests).toBe(3);
  });

  it('retries 5xx (InternalServerError, ServerOverloaded)', async () => {
    sandbox.smh.inject({ kind: 'status', status: 500, code: 'InternalServerError' });
    sandbox.smh.inject({ kind: 'status', status: 503, code: 'ServerOverloaded' });
    await expect(smhClientFor(sandbox).queryTasks(q)).resolves.toBeDefined();
    sandbox.smh.inject({ kind: 'status', status: 503, code: 'ServerOverloaded' }, 4);
    await expect(smhClientFor(sandbox).queryTasks(q)).rejects.toBeInstanceOf(UpstreamUnavailableError);
  });

  it('times out slow answers', async () => {
    sandbox.smh.inject({ kind: 'delay', ms: 800 }, 2);
    const client = smhClientFor(sandbox, { env: { SMH_TIMEOUT_MS: '150', UPSTREAM_MAX_ATTEMPTS: '2' } });
    await expect(client.queryTasks(q)).rejects.toBeInstanceOf(UpstreamTimeoutError);
  });

  it('does not retry a wrong library secret (an auth error)', async () => {
    const client = smhClientFor(sandbox, { secrets: { [LIB]: 'not-the-secret' } });
    const error = await client.queryTasks(q).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamAuthError);
    expect(error).toMatchObject({ upstreamCode: 'WrongLibraryIdOrSecret', httpStatus: 502 });
    expect(sandbox.smh.tokenRequests).toBe(1);
    expect((error as Error).message).not.toContain('not-the-secret');
  });

  it('says what to configure for a library without a secret, without any request', async () => {
    const error = await smhClientFor(sandbox)
      .queryTasks({ ...q, libraryId: 'smhunknown' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: 'LibraryNotConfigured', httpStatus: 404 });
    expect((error as Error).message).toMatch(/SMH_LIBRARY_SECRETS/);
    expect(sandbox.smh.requestCount).toBe(0);
  });

  it('reports a library or space SMH does not know as 404', async () => {
    const client = smhClientFor(sandbox, { secrets: { smhgone: 'x', [MULTI]: 'multi-library-secret-0003' } });
    await expect(client.queryTasks({ ...q, libraryId: 'smhgone' })).rejects.toMatchObject({
      code: 'LibraryNotFound',
      httpStatus: 404,
    });
    const error = await client
      .queryTasks({ ...q, libraryId: MULTI, spaceId: 'space9' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamNotFoundError);
    expect(error).toMatchObject({ code: 'SpaceNotFound' });
  });

  it.each([
    ['a body that is not JSON', 'not json'],
    ['an object instead of an array', '{"taskId":1}'],
    ['items without a status', '[{"taskId":1}]'],
    ['an empty body', ''],
    ['a truncated body', '[{"taskId":1,"sta'],
  ])('retries %s, and reports a bad upstream response when it persists', async (_, body) => {
    sandbox.smh.inject({ kind: 'raw', status: 200, body }, 5);
    await expect(smhClientFor(sandbox).queryTasks(q)).rejects.toBeInstanceOf(UpstreamBadResponseError);
    expect(sandbox.smh.taskRequests).toBe(4); // UPSTREAM_MAX_ATTEMPTS
  });

  it('reads a good answer after one unreadable one, instead of calling every id unknown', async () => {
    setTasks(sandbox, [{ taskId: '1', status: 202 }]);
    sandbox.smh.inject({ kind: 'raw', status: 200, body: '' }, 1);
    await expect(smhClientFor(sandbox).queryTasks(q)).resolves.toMatchObject({
      tasks: [{ taskId: '1', status: 'running' }],
      notFound: [],
    });
  });

  it('reports a refused connection as unavailable', async () => {
    const client = smhClientFor(sandbox);
    await sandbox.close();
    await expect(client.queryTasks(q)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    sandbox = await smhSandbox();
  });

  it('never writes a token or a secret to the log, even through refreshes, retries and failures', async () => {
    const log = captureLog();
    const client = smhClientFor(sandbox, { log });
    const errors: unknown[] = [];
    await client.queryTasks(q);
    sandbox.smh.revokeTokens();
    sandbox.smh.inject({ kind: 'status', status: 429, code: 'RateLimitExceeded' }, 1);
    await client.queryTasks(q);
    sandbox.smh.inject({ kind: 'status', status: 500, code: 'InternalServerError' }, 10);
    errors.push(await client.queryTasks(q).catch((e: unknown) => e));
    sandbox.smh.clearFaults();
    sandbox.smh.inject({ kind: 'delay', ms: 500 }, 10);
    errors.push(
      await smhClientFor(sandbox, { log, env: { SMH_TIMEOUT_MS: '100', UPSTREAM_MAX_ATTEMPTS: '1' } })
        .queryTasks(q)
        .catch((e: unknown) => e),
    );
    sandbox.smh.clearFaults();
    errors.push(
      await smhClientFor(sandbox, { log, secrets: { [LIB]: 'wrong-secret-xyz' } })
        .queryTasks(q)
        .catch((e: unknown) => e),
    );

    expect(log.entries.length).toBeGreaterThan(3);
    expect(sandbox.smh.issuedTokens.length).toBeGreaterThanOrEqual(3);
    const written = [log.text(), ...errors.map((e) => `${(e as Error).message} ${JSON.stringify(e)}`)].join(
      '\n',
    );
    for (const secret of [...sandbox.smh.issuedTokens, LIB_SECRET, LIB2_SECRET, 'wrong-secret-xyz']) {
      expect(written).not.toContain(secret);
    }
    expect(written).toContain('access_token=***'); // the timed-out URL is there, redacted
  });
});

describe('SMH at the edges (what Tencent and its SDKs really do)', () => {
  it('keeps a batch result array whole, with its per-item results', async () => {
    const result = [
      { status: 200, path: ['a', 'x.jpg'], copyFrom: ['in', 'x.jpg'] },
      { status: 403, code: 'NoPermission', message: 'no permission', path: ['a', 'y.jpg'] },
    ];
    setTasks(sandbox, [{ taskId: '21', status: 200, result }]);
    const answer = await smhClientFor(sandbox).queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['21'] });
    expect(answer.tasks[0]).toMatchObject({ status: 'succeeded', result });
  });

  it('reads an item that names its id `id` instead of `taskId`', async () => {
    sandbox.smh.setLibrary({ libraryId: LIB, secret: LIB_SECRET, idField: 'id' });
    setTasks(sandbox, [{ taskId: '22', status: 202 }]);
    const answer = await smhClientFor(sandbox).queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['22'] });
    expect(answer).toEqual({
      tasks: [expect.objectContaining({ taskId: '22', status: 'running' })],
      notFound: [],
    });
  });

  it('splits a request SMH refuses with 404 TaskNotFound, answers the known ids and reports the unknown one', async () => {
    sandbox.smh.setLibrary({ libraryId: LIB, secret: LIB_SECRET, unknownTaskIds: 'refuse' });
    setTasks(sandbox, [
      { taskId: '31', status: 202 },
      { taskId: '32', status: 200, result: { path: ['done'] } },
    ]);
    const answer = await smhClientFor(sandbox).queryTasks({
      libraryId: LIB,
      spaceId: '-',
      taskIds: ['31', '32', '33'],
    });
    expect(answer.tasks.map((t) => `${t.taskId}:${t.status}`)).toEqual(['31:running', '32:succeeded']);
    expect(answer.notFound).toEqual(['33']);
    expect(sandbox.smh.taskRequests).toBeLessThanOrEqual(2 * 3 - 1); // bisection: at most 2n−1 requests
  });

  it('finds the refused ids among 50 in a bounded number of requests', async () => {
    sandbox.smh.setLibrary({ libraryId: LIB, secret: LIB_SECRET, unknownTaskIds: 'refuse' });
    const ids = Array.from({ length: 50 }, (_, n) => String(100 + n));
    setTasks(
      sandbox,
      ids.filter((id) => id !== '117' && id !== '140').map((taskId) => ({ taskId, status: 202 })),
    );
    const answer = await smhClientFor(sandbox).queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ids });
    expect(answer.notFound).toEqual(['117', '140']);
    expect(answer.tasks).toHaveLength(48);
    expect(sandbox.smh.taskRequests).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(50)) * 2 + 1);
  });

  it('reaches a library on its own host (SMH_LIBRARY_SECRETS object form)', async () => {
    const own = await startSandbox({
      smh: { libraries: [{ libraryId: 'smhlibhosted', secret: 'hosted-secret-1' }] },
    });
    try {
      const host = await own.libraryHost(['smhlibhosted']);
      own.smh.setTask({ libraryId: 'smhlibhosted', spaceId: '-', taskId: '5', status: 204 });
      setTasks(sandbox, [{ taskId: '5', status: 202 }]);
      const client = smhClientFor(sandbox, {
        env: {
          SMH_LIBRARY_SECRETS: JSON.stringify({
            [LIB]: LIB_SECRET,
            smhlibhosted: { secret: 'hosted-secret-1', baseUrl: host },
          }),
        },
      });
      const q = (libraryId: string) => client.queryTasks({ libraryId, spaceId: '-', taskIds: ['5'] });
      await expect(q(LIB)).resolves.toMatchObject({ tasks: [{ status: 'running' }] });
      await expect(q('smhlibhosted')).resolves.toMatchObject({
        tasks: [{ status: 'succeeded', upstreamStatus: 204 }],
      });
      expect(own.smh.taskRequests).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('reports 499 (cancelled by the user) as a final failure', async () => {
    setTasks(sandbox, [{ taskId: '41', status: 499 }]);
    const answer = await smhClientFor(sandbox).queryTasks({ libraryId: LIB, spaceId: '-', taskIds: ['41'] });
    expect(answer.tasks[0]).toMatchObject({
      status: 'failed',
      upstreamStatus: 499,
      message: 'The task was cancelled by the user',
    });
  });

  it('queries a multi-tenant library at library level with an admin token (SMH_LIBRARY_TOKEN_GRANT)', async () => {
    sandbox.smh.setTask({
      libraryId: MULTI,
      spaceId: null,
      taskId: '8',
      status: 200,
      result: { deleteCount: 3 },
    });
    const answer = await smhClientFor(sandbox).queryTasks({ libraryId: MULTI, taskIds: ['8'] });
    expect(answer.tasks[0]).toMatchObject({ status: 'succeeded', result: { deleteCount: 3 } });
    // Without the admin grant, Tencent wants a space: the token is refused.
    const readOnly = smhClientFor(sandbox, { env: { SMH_LIBRARY_TOKEN_GRANT: '' } });
    await expect(readOnly.queryTasks({ libraryId: MULTI, taskIds: ['8'] })).rejects.toMatchObject({
      upstreamCode: 'ParamInvalid',
    });
  });
});

describe('the SMH sandbox is as strict as Tencent, and no stricter', () => {
  const mint = async (query: string) => {
    const response = await fetch(`${sandbox.url}/api/v1/token?${query}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  it.each([
    ['100', 300],
    ['abc', 86_400],
    ['400000000', 315_360_000],
    ['3600', 3600],
  ])('clamps a token period of %s to %d instead of refusing it', async (period, expiresIn) => {
    const answer = await mint(`library_id=${LIB}&library_secret=${LIB_SECRET}&period=${period}`);
    expect(answer).toMatchObject({ status: 200, body: { expiresIn } });
  });

  it('answers a missing library id or secret with EmptyLibraryIdOrSecret', async () => {
    expect(await mint(`library_id=${LIB}`)).toMatchObject({
      status: 400,
      body: { code: 'EmptyLibraryIdOrSecret' },
    });
  });
});

describe('library access configuration', () => {
  it.each([
    ['{"lib":""}', /SMH_LIBRARY_SECRETS\["lib"\]/],
    ['{"lib":{"baseUrl":"https://x"}}', /needs a "secret"/],
    [
      '{"lib":{"secret":"s","baseUrl":"ftp://x"}}',
      /SMH_LIBRARY_SECRETS\["lib"\]\.baseUrl must use http or https/,
    ],
    ['{"lib":{"secret":"s","host":"x"}}', /unknown fields \(host\)/],
    ['["s"]', /must be a JSON object/],
    ['{not json', /SMH_LIBRARY_SECRETS is not valid JSON/],
  ])('refuses SMH_LIBRARY_SECRETS=%s at cold start, naming the entry', (value, message) => {
    expect(() =>
      librarySecretProvider({ SMH_LIBRARY_SECRETS: value }, () => {
        throw new Error('no SSM');
      }),
    ).toThrow(message);
  });
});

it('scrubs the secret and the token SMH echoes back in any encoding, from every message', async () => {
  const secret = 'Tok+Err/Secret==x';
  sandbox.smh.setLibrary({ libraryId: 'smhlibenc', secret });
  const log = captureLog();
  const client = smhClientFor(sandbox, { secrets: { smhlibenc: secret }, log });
  sandbox.smh.setTask({ libraryId: 'smhlibenc', spaceId: '-', taskId: '1', status: 202 });
  await client.queryTasks({ libraryId: 'smhlibenc', spaceId: '-', taskIds: ['1'] });
  const token = sandbox.smh.issuedTokens.at(-1) as string;
  sandbox.smh.inject({
    kind: 'status',
    status: 400,
    code: 'ParamInvalid',
    message: `bad request library_secret=${encodeURIComponent(secret)}&access_token=${encodeURIComponent(token)} (${new URLSearchParams({ s: secret }).toString()})`,
  });
  const error = (await client
    .queryTasks({ libraryId: 'smhlibenc', spaceId: '-', taskIds: ['1'] })
    .catch((e: unknown) => e)) as Error;
  for (const form of [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    token,
  ]) {
    expect(error.message).not.toContain(form);
    expect(log.text()).not.toContain(form);
  }
});

describe('the SMH sandbox', () => {
  it('remembers only the last task requests, so a long npm start does not grow without end', async () => {
    const client = smhClientFor(sandbox);
    for (let i = 1; i <= TASK_REQUEST_LOG_SIZE + 20; i++) {
      await client.queryTasks({ libraryId: LIB, spaceId: '-', taskIds: [String(i)] });
    }
    expect(sandbox.smh.taskRequests).toBe(TASK_REQUEST_LOG_SIZE + 20);
    expect(sandbox.smh.taskRequestLog).toHaveLength(TASK_REQUEST_LOG_SIZE);
    expect(sandbox.smh.taskRequestLog[0]?.ids).toEqual(['21']);
    expect(sandbox.smh.taskRequestLog.at(-1)?.ids).toEqual([String(TASK_REQUEST_LOG_SIZE + 20)]);
  });
});
