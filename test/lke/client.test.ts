import {
  UpstreamAuthError,
  UpstreamBadResponseError,
  UpstreamFailedError,
  UpstreamNotFoundError,
  UpstreamRejectedError,
  UpstreamThrottledError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../../lib/errors';
import { lkeConfig } from '../../lib/config';
import { LKE_ERROR_TABLE } from '../../lib/lke/client';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { captureLog } from '../helpers/log';
import { lkeClientFor, lkeSandbox, SECRET_ID, SECRET_KEY, SEED, SEED_ANSWER } from '../helpers/lke';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await lkeSandbox();
});
afterEach(() => sandbox.close());

describe('LkeClient against the sandbox (real SDK, real TC3 signing, loopback HTTP)', () => {
  it('answers the seed task exactly as the issue documents it', async () => {
    const task = await lkeClientFor(sandbox).getTaskStatus(SEED);
    expect(task).toEqual(SEED_ANSWER);
    expect(sandbox.lke.requestCount).toBe(1);
  });

  it.each([
    ['PENDING', 'pending'],
    ['RUNNING', 'running'],
    ['SUCCESS', 'succeeded'],
    ['FAILED', 'failed'],
    ['QUEUED_FOR_REVIEW', 'running'], // undocumented: not finished, kept as sent
    [null, 'pending'], // Status may be null
  ])('maps upstream status %p to %p', async (upstream, status) => {
    sandbox.lke.setTask({
      ...SEED,
      taskId: '77',
      status: upstream,
      message: 'm',
      cosPath: 'cos://bucket/export.xlsx',
    });
    const task = await lkeClientFor(sandbox).getTaskStatus({ ...SEED, taskId: '77' });
    expect(task.status).toBe(status);
    expect(task.upstreamStatus).toBe(upstream);
    expect(task.message).toBe('m');
    expect(task.result).toEqual({ cosPath: 'cos://bucket/export.xlsx' });
  });

  it('reads a null Params and Message as an empty message and a null cosPath', async () => {
    sandbox.lke.setTask({ ...SEED, taskId: '78', status: 'RUNNING', message: null, cosPath: undefined });
    const task = await lkeClientFor(sandbox).getTaskStatus({ ...SEED, taskId: '78' });
    expect(task).toMatchObject({ status: 'running', message: '', result: { cosPath: null } });
  });

  it('reports a wrong secret key as an auth error, keeping Code and RequestId, without retrying', async () => {
    const client = lkeClientFor(sandbox, { credential: { secretId: SECRET_ID, secretKey: 'wrong' } });
    const error = await client.getTaskStatus(SEED).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamAuthError);
    expect(error).toMatchObject({
      code: 'UpstreamAuthFailure',
      httpStatus: 502,
      upstreamCode: 'AuthFailure.SignatureFailure',
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(sandbox.lke.requestCount).toBe(1);
  });

  it('reports an unknown SecretId as an auth error', async () => {
    const client = lkeClientFor(sandbox, { credential: { secretId: 'AKIDnobody', secretKey: SECRET_KEY } });
    await expect(client.getTaskStatus(SEED)).rejects.toMatchObject({
      upstreamCode: 'AuthFailure.SecretIdNotFound',
    });
  });

  it('sends the X-TC-Token of temporary credentials', async () => {
    sandbox.lke.credentials.set('AKIDtemp', { secretKey: 'temp-key', token: 'session-token' });
    const ok = lkeClientFor(sandbox, {
      credential: { secretId: 'AKIDtemp', secretKey: 'temp-key', token: 'session-token' },
    });
    await expect(ok.getTaskStatus(SEED)).resolves.toMatchObject({ status: 'succeeded' });
    const missing = lkeClientFor(sandbox, { credential: { secretId: 'AKIDtemp', secretKey: 'temp-key' } });
    await expect(missing.getTaskStatus(SEED)).rejects.toMatchObject({
      upstreamCode: 'AuthFailure.TokenFailure',
    });
  });

  it('reports an unknown task as not found', async () => {
    const error = await lkeClientFor(sandbox)
      .getTaskStatus({ ...SEED, taskId: '404' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamNotFoundError);
    expect(error).toMatchObject({ httpStatus: 404, upstreamCode: 'ResourceNotFound' });
  });

  it('does not retry parameter errors', async () => {
    sandbox.lke.inject(
      { kind: 'error', code: 'InvalidParameterValue.TaskType', message: 'bad task type' },
      5,
    );
    const error = await lkeClientFor(sandbox)
      .getTaskStatus(SEED)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ httpStatus: 400, upstreamCode: 'InvalidParameterValue.TaskType' });
    expect(sandbox.lke.requestCount).toBe(1);
  });

  it('does not retry other business errors (FailedOperation)', async () => {
    sandbox.lke.inject({ kind: 'error', code: 'FailedOperation' }, 5);
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).rejects.toBeInstanceOf(UpstreamFailedError);
    expect(sandbox.lke.requestCount).toBe(1);
  });

  it('retries throttling and then succeeds, logging each retry', async () => {
    const log = captureLog();
    sandbox.lke.inject({ kind: 'error', code: 'RequestLimitExceeded.GlobalRegionUinLimitExceeded' }, 2);
    const task = await lkeClientFor(sandbox, { log }).getTaskStatus(SEED);
    expect(task.status).toBe('succeeded');
    expect(sandbox.lke.requestCount).toBe(3);
    expect(log.entries.filter((e) => e.message === 'LKE call failed, retrying')).toHaveLength(2);
    expect(log.entries[0]?.extra).toMatchObject({
      upstreamCode: 'RequestLimitExceeded.GlobalRegionUinLimitExceeded',
    });
  });

  it('gives up on throttling after the configured attempts', async () => {
    sandbox.lke.inject({ kind: 'error', code: 'RequestLimitExceeded' }, 10);
    const client = lkeClientFor(sandbox, { env: { UPSTREAM_MAX_ATTEMPTS: '3' } });
    const error = await client.getTaskStatus(SEED).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamThrottledError);
    expect(error).toMatchObject({ httpStatus: 503, retryAfterSeconds: 1 });
    expect(sandbox.lke.requestCount).toBe(3);
  });

  it('retries InternalError', async () => {
    sandbox.lke.inject({ kind: 'error', code: 'InternalError' }, 1);
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).resolves.toMatchObject({ status: 'succeeded' });
    expect(sandbox.lke.requestCount).toBe(2);
  });

  it('retries a gateway 5xx', async () => {
    sandbox.lke.inject(
      { kind: 'raw', status: 503, body: 'Service Unavailable', contentType: 'text/plain' },
      1,
    );
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).resolves.toMatchObject({ status: 'succeeded' });
    expect(sandbox.lke.requestCount).toBe(2);
    sandbox.lke.inject({ kind: 'raw', status: 502, body: 'Bad Gateway', contentType: 'text/plain' }, 4);
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).rejects.toBeInstanceOf(UpstreamUnavailableError);
  });

  it('times out a slow answer, retries it, and reports a timeout', async () => {
    sandbox.lke.inject({ kind: 'delay', ms: 600 }, 2);
    const client = lkeClientFor(sandbox, { env: { LKE_TIMEOUT_MS: '150', UPSTREAM_MAX_ATTEMPTS: '2' } });
    const error = await client.getTaskStatus(SEED).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamTimeoutError);
    expect(error).toMatchObject({ httpStatus: 504 });
    expect(sandbox.lke.requestCount).toBe(2);
  });

  it('recovers when a slow answer is followed by a fast one', async () => {
    sandbox.lke.inject({ kind: 'delay', ms: 2500 }, 1);
    const client = lkeClientFor(sandbox, { env: { LKE_TIMEOUT_MS: '1000' } });
    await expect(client.getTaskStatus(SEED)).resolves.toMatchObject({ status: 'succeeded' });
  });

  it.each([
    ['a body that is not JSON', 'this is not json'],
    ['a JSON body without Response', '{"Data":{}}'],
    ['a Status that is not a string', '{"Response":{"Status":7,"RequestId":"r"}}'],
    ['a malformed Params', '{"Response":{"Status":"SUCCESS","Params":"x","RequestId":"r"}}'],
    ['an empty body', ''],
    ['a truncated body', '{"Response":{"Status":"SUC'],
  ])('retries %s, and reports a bad upstream response when it persists', async (_, body) => {
    sandbox.lke.inject({ kind: 'raw', status: 200, body }, 5);
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).rejects.toBeInstanceOf(UpstreamBadResponseError);
    expect(sandbox.lke.requestCount).toBe(4); // UPSTREAM_MAX_ATTEMPTS
  });

  it('reads a good answer after one unreadable one (a network fault, not a verdict)', async () => {
    sandbox.lke.inject({ kind: 'raw', status: 200, body: '{"Response":{"Sta' }, 1);
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).resolves.toMatchObject({ status: 'succeeded' });
    expect(sandbox.lke.requestCount).toBe(2);
  });

  it('reports a refused connection as unavailable after retrying', async () => {
    const url = sandbox.url;
    await sandbox.close();
    const client = lkeClientFor({ ...sandbox, url });
    await expect(client.getTaskStatus(SEED)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    sandbox = await lkeSandbox();
  });

  it('stays under 20 requests/second: 45 concurrent calls are never throttled upstream', async () => {
    const client = lkeClientFor(sandbox, { env: { UPSTREAM_MAX_ATTEMPTS: '1' } });
    const started = Date.now();
    // A poller's calls wait their turn (an on-demand call waits at most 2 s: test/lke/quota.test.ts).
    const results = await Promise.all(
      Array.from({ length: 45 }, () => client.getTaskStatus(SEED, { priority: 'poll' })),
    );
    expect(results.every((t) => t.status === 'succeeded')).toBe(true);
    expect(sandbox.lke.requestCount).toBe(45);
    // 45 calls at 20 per (1 s + margin) need at least two full windows.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });

  it('is throttled by the sandbox when the limiter is bypassed (the sandbox enforces the quota)', async () => {
    const client = lkeClientFor(sandbox, {
      env: { UPSTREAM_MAX_ATTEMPTS: '1', LKE_RATE_LIMIT_PER_SECOND: '1000' },
    });
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, () => client.getTaskStatus(SEED)));
    const throttled = outcomes.filter(
      (o) => o.status === 'rejected' && o.reason instanceof UpstreamThrottledError,
    );
    // 20 get through in the first second; the rest are throttled (fewer if the burst spreads over more than 1 s).
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.length).toBeLessThanOrEqual(10);
    expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBe(30 - throttled.length);
  });
});

describe('LKE error codes, row by row (Cloud API v3 common codes)', () => {
  // [code, our code, retried?]: every row of LKE_ERROR_TABLE, and a code no row knows.
  const cases: [string, string, boolean][] = [
    ...LKE_ERROR_TABLE.map(([code, Type]): [string, string, boolean] => {
      const sample = new Type('x', { provider: 'lke' });
      return [code, sample.code, sample.retryable];
    }),
    ['RequestLimitExceeded.GlobalRegionUinLimitExceeded', 'UpstreamThrottled', true],
    ['AuthFailure.SignatureFailure', 'UpstreamAuthFailure', false],
    ['ResourceNotFound.Task', 'TaskNotFound', false],
    ['SomethingNew.Unheard', 'UpstreamError', false],
  ];
  it.each(cases)('%s → %s (retried: %p)', async (upstreamCode, code, retried) => {
    sandbox.lke.inject({ kind: 'error', code: upstreamCode }, 10);
    const error = await lkeClientFor(sandbox)
      .getTaskStatus(SEED)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code, upstreamCode });
    expect(sandbox.lke.requestCount).toBe(retried ? 4 : 1);
  });

  it('retries one transient ServiceUnavailable into an answer', async () => {
    sandbox.lke.inject({ kind: 'error', code: 'ServiceUnavailable' }, 1);
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).resolves.toMatchObject({ status: 'succeeded' });
    expect(sandbox.lke.requestCount).toBe(2);
  });

  it('says what ResourceUnavailable means: suspended or in arrears, not a blip', async () => {
    sandbox.lke.inject({ kind: 'error', code: 'ResourceUnavailable' }, 1);
    await expect(lkeClientFor(sandbox).getTaskStatus(SEED)).rejects.toMatchObject({
      code: 'UpstreamAccountUnavailable',
      message: expect.stringMatching(/suspended or in arrears/),
    });
  });

  it('names clock skew when LKE says the signature expired, and does not retry', async () => {
    const skewed = await startSandbox({
      lke: { credentials: { [SECRET_ID]: { secretKey: SECRET_KEY } }, now: () => Date.now() + 400_000 },
    });
    try {
      const error = await lkeClientFor(skewed)
        .getTaskStatus(SEED)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'UpstreamAuthFailure',
        upstreamCode: 'AuthFailure.SignatureExpire',
        message: expect.stringMatching(/clock differs from Tencent's by more than 5 minutes.*NTP/),
      });
      expect(skewed.lke.requestCount).toBe(1);
    } finally {
      await skewed.close();
    }
  });

  it('scrubs signature material LKE echoes in an error message', async () => {
    const echo =
      'Signature check failed for TC3-HMAC-SHA256 Credential=AKIDsandboxTestId0001/2026-11-29/lke/tc3_request, ' +
      `SignedHeaders=content-type;host, Signature=${'ab'.repeat(32)} with key ${SECRET_KEY}`;
    sandbox.lke.inject({ kind: 'error', code: 'FailedOperation', message: echo }, 1);
    const log = captureLog();
    const error = (await lkeClientFor(sandbox, { log })
      .getTaskStatus(SEED)
      .catch((e: unknown) => e)) as Error;
    for (const secret of ['AKIDsandboxTestId0001', 'ab'.repeat(32), SECRET_KEY]) {
      expect(error.message).not.toContain(secret);
    }
  });

  it('refuses a session token with a permanent key, as Tencent does', async () => {
    const client = lkeClientFor(sandbox, {
      credential: { secretId: SECRET_ID, secretKey: SECRET_KEY, token: 'not-for-permanent-keys' },
    });
    await expect(client.getTaskStatus(SEED)).rejects.toMatchObject({
      upstreamCode: 'AuthFailure.TokenFailure',
    });
  });
});

describe('region follows the endpoint', () => {
  it.each([
    [{}, 'ap-jakarta'],
    [{ LKE_ENDPOINT: 'https://lke.intl.tencentcloudapi.com' }, 'ap-jakarta'],
    [{ LKE_ENDPOINT: 'https://lke.tencentcloudapi.com' }, 'ap-guangzhou'],
    [{ LKE_ENDPOINT: 'lke.tencentcloudapi.com', LKE_REGION: 'ap-shanghai' }, 'ap-shanghai'],
    [{ LKE_ENDPOINT: 'https://lke.ap-guangzhou.tencentcloudapi.com' }, 'ap-guangzhou'],
    [{ LKE_ENDPOINT: 'http://127.0.0.1:9100', LKE_REGION: 'ap-anywhere' }, 'ap-anywhere'],
  ])('%p → %s', (env, region) => {
    expect(lkeConfig(env).region).toBe(region);
  });

  it.each([
    [{ LKE_REGION: 'ap-guangzhou' }, /international site serves LKE in ap-jakarta only/],
    [
      { LKE_ENDPOINT: 'https://lke.tencentcloudapi.com', LKE_REGION: 'ap-jakarta' },
      /lke\.intl\.tencentcloudapi\.com/,
    ],
    [
      { LKE_ENDPOINT: 'https://lke.ap-guangzhou.tencentcloudapi.com', LKE_REGION: 'ap-beijing' },
      /serves ap-guangzhou only/,
    ],
  ])('refuses %p at configuration time, saying what to change', (env, message) => {
    expect(() => lkeConfig(env)).toThrow(message);
  });
});
