import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { acceptAll, captureAws, type AwsCapture } from '../helpers/aws-capture';
import type { LocalRun } from '../helpers/local-run';
import { checkedLocalRuns } from '../helpers/openapi';

// Every answer of the HTTP API in this file is checked against openapi.json (route, status and body).
const { fetch, startLocalRun } = checkedLocalRuns();

/**
 * `npm start` against a separate Tencent stand-in (LKE_ENDPOINT, SMH_BASE_URL, a library on its own host), with
 * EventBridge and Step Functions on a loopback endpoint that refuses what AWS refuses (sizes, counts, lengths).
 */
const BOT = '1767024172536168448';
const LIB = 'smhe2e';
const LIB_SECRET = 'e2e-library-secret-1';
const HOSTED = 'smhe2ehosted';
const HOSTED_SECRET = 'e2e-hosted-secret-2';
const dataDir = mkdtempSync(join(tmpdir(), 'ttt-e2e-edges-'));

let standIn: Sandbox;
let aws: AwsCapture;
let run: LocalRun;

const json = async (response: Response) => (await response.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const post = (url: string, body: unknown) => fetch(url, { method: 'POST', body: JSON.stringify(body) });
const invoke = async (fn: string) =>
  json(
    await fetch(`${run.lambdaUrl}/2015-03-31/functions/tencent-task-tracker-local-${fn}/invocations`, {
      method: 'POST',
      body: '{}',
    }),
  );
const record = async (id: string) => json(await fetch(`${run.baseUrl}/tasks/${id}`));
const calls = (target: string) => aws.requests.filter((r) => r.target === target);
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** About `kb` KB of SMH batch results (one item per path). */
function batchResult(kb: number) {
  const items: Record<string, unknown>[] = [];
  for (let n = 0, size = 2; size < kb * 1024; n++) {
    const name = `file-${String(n).padStart(6, '0')}.jpg`;
    const item = { status: n % 9 ? 200 : 403, path: ['media', name], copyFrom: ['inbox', name] };
    items.push(item);
    size += Buffer.byteLength(JSON.stringify(item)) + 1;
  }
  return items;
}
const BIG = batchResult(225);

beforeAll(async () => {
  [standIn, aws] = await Promise.all([
    startSandbox({
      lke: { credentials: { AKIDe2eEdges: { secretKey: 'e2e-edges-key' } } },
      smh: {
        libraries: [
          { libraryId: LIB, secret: LIB_SECRET, unknownTaskIds: 'refuse' },
          { libraryId: HOSTED, secret: HOSTED_SECRET },
        ],
      },
    }),
    captureAws(acceptAll),
  ]);
  const hostedUrl = await standIn.libraryHost([HOSTED]);
  run = await startLocalRun({
    DATA_DIR: dataDir,
    TENCENTCLOUD_SECRET_ID: 'AKIDe2eEdges',
    TENCENTCLOUD_SECRET_KEY: 'e2e-edges-key',
    LKE_ENDPOINT: standIn.url,
    SMH_BASE_URL: standIn.url,
    SMH_LIBRARY_SECRETS: JSON.stringify({
      [LIB]: LIB_SECRET,
      [HOSTED]: { secret: HOSTED_SECRET, baseUrl: hostedUrl },
    }),
    AWS_ENDPOINT_URL_EVENTBRIDGE: aws.endpoint,
    AWS_ENDPOINT_URL_SFN: aws.endpoint,
    AWS_ACCESS_KEY_ID: 'AKIAFAKEFORTESTS',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-for-tests',
    AWS_REGION: 'us-east-1',
  });
}, 120_000);
afterAll(async () => {
  await run?.stop();
  await Promise.all([standIn?.close(), aws?.close()]);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start: results of any size, every waiter, heartbeats (AWS limits enforced)', () => {
  it('stores a ~225 KB SMH result whole and hands it over in requests AWS accepts', async () => {
    standIn.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 200, result: BIG });
    const tracked = await post(`${run.baseUrl}/smh/tasks`, {
      libraryId: LIB,
      spaceId: '-',
      taskIds: ['1'],
      notify: { taskToken: 'tok-big-result' },
    });
    expect(tracked.status).toBe(201);
    const id = (await json(tracked)).tasks[0].id as string;
    expect(await invoke('smhPoll')).toMatchObject({ finished: 1, deadLettered: 0 });
    const stored = await record(id);
    expect(stored).toMatchObject({ status: 'succeeded', resultTruncated: null });
    expect(stored.result).toEqual(BIG);
    const mine = calls('AWSEvents.PutEvents').filter((r) => JSON.stringify(r.body).includes(id));
    expect(mine.length).toBeGreaterThan(0);
    const [callback] = calls('AWSStepFunctions.SendTaskSuccess').filter(
      (r) => r.body.taskToken === 'tok-big-result',
    );
    expect(JSON.parse(callback?.body.output as string).result).toEqual(BIG);
    expect(aws.requests.filter((r) => r.refused)).toEqual([]);
  }, 60_000);

  it('calls back each of 12 executions waiting on one task', async () => {
    const task = { botBizId: BOT, taskType: 'ExportAttributeLabel', taskId: '1212' };
    standIn.lke.setTask({ ...task, status: 'RUNNING' });
    const tokens = Array.from({ length: 12 }, (_, n) => `tok-waiter-${n}-${'w'.repeat(1500)}`);
    for (const taskToken of tokens) {
      const response = await post(`${run.baseUrl}/lke/tasks`, { ...task, notify: { taskToken } });
      expect([200, 201]).toContain(response.status);
    }
    standIn.lke.setTask({ ...task, status: 'SUCCESS', cosPath: 'cos://export.xlsx' });
    await invoke('lkePoll');
    const called = calls('AWSStepFunctions.SendTaskSuccess').map((r) => r.body.taskToken as string);
    expect(tokens.every((token) => called.includes(token))).toBe(true);
    expect(aws.requests.filter((r) => r.refused)).toEqual([]);
  }, 60_000);

  it('heartbeats after a check that failed', async () => {
    const task = { botBizId: BOT, taskType: 'ExportAttributeLabel', taskId: '1313' };
    standIn.lke.setTask({ ...task, status: null, failWith: 'FailedOperation' });
    const response = await post(`${run.baseUrl}/lke/tasks`, {
      ...task,
      notify: { taskToken: 'tok-heartbeat', heartbeat: true },
    });
    expect(response.status).toBe(201);
    await invoke('lkePoll');
    expect(calls('AWSStepFunctions.SendTaskHeartbeat').map((r) => r.body.taskToken)).toContain(
      'tok-heartbeat',
    );
  }, 60_000);
});

describe('npm start: upstream edges (stand-in)', () => {
  it('answers a batch result array whole', async () => {
    const body = await json(await fetch(`${run.baseUrl}/smh/libraries/${LIB}/spaces/-/tasks/1`));
    expect(body.tasks[0].result).toEqual(BIG);
  });

  it('answers 31 and 32 when 33 draws 404 TaskNotFound, with 33 in notFound', async () => {
    standIn.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '31', status: 202 });
    standIn.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '32', status: 202 });
    const body = await json(await fetch(`${run.baseUrl}/smh/libraries/${LIB}/spaces/-/tasks/31,32,33`));
    expect(body.tasks.map((t: { taskId: string; status: string }) => `${t.taskId}:${t.status}`)).toEqual([
      '31:running',
      '32:running',
    ]);
    expect(body.notFound).toEqual(['33']);
  });

  it('the poller finishes 32 and expires 33 within a few checks; a task left out once is not expired', async () => {
    const tracked = await json(
      await post(`${run.baseUrl}/smh/tasks`, { libraryId: HOSTED, spaceId: '-', taskIds: ['34'] }),
    );
    const leftOutOnce = tracked.tasks[0].id as string;
    const both = await json(
      await post(`${run.baseUrl}/smh/tasks`, { libraryId: LIB, spaceId: '-', taskIds: ['32', '33'] }),
    );
    const [id32, id33] = both.tasks.map((t: { id: string }) => t.id) as [string, string];
    standIn.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '32', status: 204 });
    await invoke('smhPoll');
    expect(await record(id32)).toMatchObject({ status: 'succeeded' });
    expect(await record(id33)).toMatchObject({ status: 'pending', lastError: { code: 'TaskNotFound' } });
    expect(await record(leftOutOnce)).toMatchObject({ status: 'pending' });
    standIn.smh.setTask({ libraryId: HOSTED, spaceId: '-', taskId: '34', status: 202 }); // it shows up after all
    await wait(10_500); // locally a task is checked again 10 s later
    await invoke('smhPoll');
    expect(await record(id33)).toMatchObject({
      status: 'expired',
      message: expect.stringMatching(/no longer knows/),
    });
    expect(await record(leftOutOnce)).toMatchObject({ status: 'running' });
  }, 60_000);

  it('answers a second library on its own host', async () => {
    standIn.smh.setTask({ libraryId: HOSTED, spaceId: '-', taskId: '5', status: 204 });
    const response = await fetch(`${run.baseUrl}/smh/libraries/${HOSTED}/spaces/-/tasks/5`);
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ tasks: [{ taskId: '5', status: 'succeeded' }] });
  });

  it('retries one transient ServiceUnavailable into a 200', async () => {
    standIn.lke.inject({ kind: 'error', code: 'ServiceUnavailable' }, 1);
    const response = await fetch(`${run.baseUrl}/lke/tasks/8?botBizId=${BOT}&taskType=ModifyAttributeLabel`);
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ taskId: '8', status: 'succeeded' });
  });
});
