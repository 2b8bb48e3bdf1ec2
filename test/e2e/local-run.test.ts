import { startSandbox, type Sandbox } from '../../sandbox/server';
import { startLocalRun, type LocalRun } from '../helpers/local-run';

const SEED_URL = '/lke/tasks/8?botBizId=1767024172536168448&taskType=ModifyAttributeLabel';

describe('npm start in sandbox mode (no Tencent credentials)', () => {
  let run: LocalRun;
  beforeAll(async () => {
    run = await startLocalRun();
  }, 120_000);
  afterAll(() => run?.stop());

  it('says it is in sandbox mode in its first lines', () => {
    const firstLines = run.output().split('\n').slice(0, 8).join('\n');
    expect(firstLines).toMatch(/SANDBOX MODE/);
  });

  it('answers the seed task through the HTTP API', async () => {
    const response = await fetch(run.baseUrl + SEED_URL);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      provider: 'lke',
      taskId: '8',
      taskType: 'ModifyAttributeLabel',
      botBizId: '1767024172536168448',
      status: 'succeeded',
      upstreamStatus: 'SUCCESS',
      message: '',
      result: { cosPath: '' },
    });
  });

  it('answers 400 JSON for bad input', async () => {
    const response = await fetch(`${run.baseUrl}/lke/tasks/8?botBizId=x&taskType=ModifyAttributeLabel`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 'InvalidParameter', message: expect.any(String) },
    });
  });

  it('serves direct invokes on the Lambda endpoint', async () => {
    const response = await fetch(
      `${run.lambdaUrl}/2015-03-31/functions/tencent-task-tracker-local-lkeStatus/invocations`,
      {
        method: 'POST',
        body: JSON.stringify({
          taskId: '8',
          taskType: 'ModifyAttributeLabel',
          botBizId: '1767024172536168448',
        }),
      },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ provider: 'lke', taskId: '8', status: 'succeeded' });
  });
});

describe('npm start with credentials and LKE_ENDPOINT (any TC3-verifying endpoint)', () => {
  let endpoint: Sandbox;
  beforeAll(async () => {
    endpoint = await startSandbox({ lke: { credentials: { AKIDe2eUser: { secretKey: 'e2e-right-key' } } } });
  });
  afterAll(() => endpoint.close());

  it.each([
    { name: 'the right key', key: 'e2e-right-key', status: 200 },
    { name: 'a wrong key', key: 'e2e-wrong-key', status: 502 },
  ])(
    'with $name answers $status',
    async ({ key, status }) => {
      const run = await startLocalRun({
        TENCENTCLOUD_SECRET_ID: 'AKIDe2eUser',
        TENCENTCLOUD_SECRET_KEY: key,
        LKE_ENDPOINT: endpoint.url,
      });
      try {
        expect(run.output()).not.toMatch(/SANDBOX MODE/);
        const response = await fetch(run.baseUrl + SEED_URL);
        expect(response.status).toBe(status);
        const body = (await response.json()) as { error?: unknown };
        if (status === 200) expect(body).toMatchObject({ taskId: '8', status: 'succeeded' });
        else
          expect(body.error).toMatchObject({
            code: 'UpstreamAuthFailure',
            upstreamCode: 'AuthFailure.SignatureFailure',
          });
        expect(run.output()).not.toContain(key);
      } finally {
        await run.stop();
      }
    },
    120_000,
  );
});
