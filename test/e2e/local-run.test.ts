import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type Sandbox } from '../../sandbox/server';
import { SEED_ANSWER } from '../helpers/lke';
import { startLocalRun as startRun, type LocalRun } from '../helpers/local-run';
import { checkedLocalRuns, OPENAPI_FILE } from '../helpers/openapi';

// Every answer of the HTTP API in this file is checked against openapi.json (route, status and body).
const { fetch, startLocalRun } = checkedLocalRuns();

const SEED_URL = '/lke/tasks/8?botBizId=1767024172536168448&taskType=ModifyAttributeLabel';

const dataDir = mkdtempSync(join(tmpdir(), 'ttt-e2e-data-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const json = async (response: Response) => (await response.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const post = (url: string, body?: unknown) =>
  fetch(url, { method: 'POST', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const put = (url: string, body: unknown) => fetch(url, { method: 'PUT', body: JSON.stringify(body) });

describe('npm start in sandbox mode (no Tencent credentials)', () => {
  let run: LocalRun;
  beforeAll(async () => {
    run = await startLocalRun({ DATA_DIR: dataDir });
  }, 120_000);
  afterAll(() => run?.stop());

  it('says it is in sandbox mode in its first lines', () => {
    const firstLines = run.output().split('\n').slice(0, 8).join('\n');
    expect(firstLines).toMatch(/SANDBOX MODE/);
  });

  it("prints the working invoke URLs right after serverless-offline's banner (whose short names answer 404)", async () => {
    const output = run.output();
    expect(output.indexOf('Invoke directly')).toBeGreaterThan(output.indexOf('Server ready'));
    const url = /curl -X POST (http:\S+\/invocations)/.exec(
      output.slice(output.indexOf('Invoke directly')),
    )![1]!;
    const answer = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({
        taskId: '8',
        taskType: 'ModifyAttributeLabel',
        botBizId: '1767024172536168448',
      }),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ taskId: '8', status: 'succeeded' });
  });

  it('answers the seed task through the HTTP API', async () => {
    const response = await fetch(run.baseUrl + SEED_URL);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject(SEED_ANSWER);
  });

  it('serves its OpenAPI document at GET /openapi.json, naming the port it serves on (PORT)', async () => {
    const response = await fetch(`${run.baseUrl}/openapi.json`);
    expect(response.status).toBe(200);
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as {
      servers: { description: string }[];
    };
    expect(run.baseUrl).not.toBe('http://localhost:3000');
    expect(await response.json()).toEqual({
      ...committed,
      servers: [{ url: run.baseUrl, description: committed.servers[0]!.description }],
    });
  });

  it.each([
    ['GET', '/nothing/here'],
    ['DELETE', '/lke/tasks/8'],
    ['POST', '/tasks'],
  ])('answers %s %s with 404 RouteNotFound in its own error shape', async (method, path) => {
    const response = await fetch(`${run.baseUrl}${path}`, { method });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: 'RouteNotFound', message: expect.stringContaining('GET /tasks/{id}') },
    });
  });

  it('answers 400 JSON for bad input', async () => {
    const response = await fetch(`${run.baseUrl}/lke/tasks/8?botBizId=x&taskType=ModifyAttributeLabel`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 'InvalidParameter', message: expect.any(String) },
    });
  });

  it('serves the SMH demo library with a task in every status', async () => {
    const response = await fetch(`${run.baseUrl}/smh/libraries/smhdemo/spaces/-/tasks/1,2,3,4,5,6,7`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      tasks: { taskId: string; status: string }[];
      notFound: string[];
    };
    expect(body.tasks.map((t) => `${t.taskId}:${t.status}`)).toEqual([
      '1:running',
      '2:succeeded',
      '3:succeeded',
      '4:failed',
      '5:failed',
      '6:failed',
    ]);
    expect(body.notFound).toEqual(['7']);
    const library = await fetch(`${run.baseUrl}/smh/libraries/smhdemo/tasks/8`);
    expect(await library.json()).toMatchObject({
      tasks: [{ taskId: '8', spaceId: null, result: { deleteCount: 12 } }],
    });
  });

  it.each(['..%2Fx', 'a%2Fb', 'lib%3Fx', '%C3%BC', 'a%20b'])(
    'answers 400 to the hostile library id %p through the real routing',
    async (libraryId) => {
      const response = await fetch(`${run.baseUrl}/smh/libraries/${libraryId}/spaces/-/tasks/1`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('InvalidParameter');
    },
  );

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

describe('tracking under npm start (sandbox mode)', () => {
  let run: LocalRun;
  let lkeId: string;
  beforeAll(async () => {
    run = await startLocalRun({ DATA_DIR: dataDir });
  }, 120_000);
  afterAll(() => run?.stop());

  const invoke = async (fn: string) =>
    json(await post(`${run.lambdaUrl}/2015-03-31/functions/tencent-task-tracker-local-${fn}/invocations`));

  it('follows an LKE task: track RUNNING, set SUCCESS, invoke lkePoll, see it succeeded with its history', async () => {
    const task = { botBizId: '1767024172536168448', taskType: 'ExportAttributeLabel', taskId: '4242' };
    await put(`${run.sandboxUrl}/_sandbox/lke/tasks`, { ...task, status: 'RUNNING' });
    const tracked = await post(`${run.baseUrl}/lke/tasks`, task);
    expect(tracked.status).toBe(201);
    lkeId = (await json(tracked)).id;
    await put(`${run.sandboxUrl}/_sandbox/lke/tasks`, {
      ...task,
      status: 'SUCCESS',
      cosPath: 'cos://bucket/export.xlsx',
    });
    const summary = await invoke('lkePoll');
    expect(summary).toMatchObject({ claimed: 1, checked: 1, finished: 1, durationMs: expect.any(Number) });
    const record = await json(await fetch(`${run.baseUrl}/tasks/${lkeId}`));
    expect(record).toMatchObject({
      id: lkeId,
      status: 'succeeded',
      result: { cosPath: 'cos://bucket/export.xlsx' },
    });
    expect(record.history.map((h: { status: string }) => h.status)).toEqual(['pending', 'succeeded']);

    // Hand-over locally: the events are in the sink file.
    const sink = readFileSync(join(dataDir, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const mine = sink.filter((n) => n.detail?.id === lkeId);
    expect(mine.map((n) => n.detailType)).toEqual(['Task Status Changed', 'Task Succeeded']);
    expect(mine[1].detail).toMatchObject({ eventId: expect.stringContaining(lkeId), status: 'succeeded' });
  });

  it('tracks from the on-demand GET with ?track=true (the store loads lazily in the bundle)', async () => {
    const task = { botBizId: '1767024172536168448', taskType: 'ExportAttributeLabel', taskId: '4343' };
    await put(`${run.sandboxUrl}/_sandbox/lke/tasks`, { ...task, status: 'RUNNING' });
    const response = await fetch(
      `${run.baseUrl}/lke/tasks/4343?botBizId=${task.botBizId}&taskType=${task.taskType}&track=true`,
    );
    const body = await json(response);
    expect(body).toMatchObject({ status: 'running', trackingId: expect.stringMatching(/^lke_/) });
    expect(await json(await fetch(`${run.baseUrl}/tasks/${body.trackingId}`))).toMatchObject({
      status: 'running',
    });
  });

  it('follows an SMH task the same way', async () => {
    await put(`${run.sandboxUrl}/_sandbox/smh/tasks`, {
      libraryId: 'smhdemo',
      spaceId: '-',
      taskId: '77',
      status: 202,
    });
    const tracked = await post(`${run.baseUrl}/smh/tasks`, {
      libraryId: 'smhdemo',
      spaceId: '-',
      taskIds: ['77'],
    });
    expect(tracked.status).toBe(201);
    const id = (await json(tracked)).tasks[0].id;
    expect(await invoke('smhPoll')).toMatchObject({ claimed: 1, checked: 1, finished: 0, rescheduled: 1 });
    await put(`${run.sandboxUrl}/_sandbox/smh/tasks`, {
      libraryId: 'smhdemo',
      spaceId: '-',
      taskId: '77',
      status: 200,
      result: { path: ['done.pdf'] },
    });
    // Locally a task is re-checked 10 s after its first check.
    await new Promise((resolve) => setTimeout(resolve, 10_500));
    expect(await invoke('smhPoll')).toMatchObject({ claimed: 1, finished: 1 });
    const record = await json(await fetch(`${run.baseUrl}/tasks/${id}`));
    expect(record).toMatchObject({
      status: 'succeeded',
      upstreamStatus: 200,
      result: { path: ['done.pdf'] },
    });
    expect(record.history.map((h: { status: string }) => h.status)).toEqual([
      'pending',
      'running',
      'succeeded',
    ]);
  }, 30_000);

  it('finds a task by its Tencent identity, and stops tracking it with DELETE /tasks/{id}', async () => {
    const task = { botBizId: '1767024172536168448', taskType: 'ModifyAttributeLabel', taskId: '4444' };
    await put(`${run.sandboxUrl}/_sandbox/lke/tasks`, { ...task, status: 'RUNNING' });
    const tracked = await json(await post(`${run.baseUrl}/lke/tasks`, task));
    const found = await json(
      await fetch(
        `${run.baseUrl}/tasks?provider=lke&botBizId=${task.botBizId}&taskType=${task.taskType}&taskId=4444`,
      ),
    );
    expect(found).toEqual({ items: [expect.objectContaining({ id: tracked.id, status: 'pending' })] });
    const app = await json(await fetch(`${run.baseUrl}/tasks?provider=lke&botBizId=${task.botBizId}`));
    expect(app.items.map((t: { id: string }) => t.id)).toContain(tracked.id);
    const misspelt = await fetch(`${run.baseUrl}/tasks?provider=lke&taskid=4444`);
    expect(misspelt.status).toBe(400);
    expect((await json(misspelt)).error.message).toMatch(/^Unknown query parameter "taskid"/);

    const untracked = await fetch(`${run.baseUrl}/tasks/${tracked.id}`, { method: 'DELETE' });
    expect(untracked.status).toBe(200);
    expect(await json(untracked)).toMatchObject({
      id: tracked.id,
      status: 'untracked',
      untracked: { requestId: expect.any(String) },
    });
    // The next poll checks nothing of it, and hands the untracking over (the local sink).
    await invoke('lkePoll');
    const sink = readFileSync(join(dataDir, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(sink.filter((n) => n.detail?.id === tracked.id).map((n) => n.detailType)).toEqual([
      'Task Status Changed',
      'Task Untracked',
    ]);
    expect(await json(await fetch(`${run.baseUrl}/tasks/${tracked.id}`))).toMatchObject({
      status: 'untracked',
      attempts: 0,
    });
  });

  it('keeps tracked tasks, and the sandbox its tasks, across a restart (data under DATA_DIR)', async () => {
    const running = { botBizId: '1767024172536168448', taskType: 'ExportAttributeLabel', taskId: '4545' };
    await put(`${run.sandboxUrl}/_sandbox/lke/tasks`, { ...running, status: 'RUNNING' });
    const runningId = (await json(await post(`${run.baseUrl}/lke/tasks`, running))).id as string;
    await run.stop();
    run = await startLocalRun({ DATA_DIR: dataDir });
    // The sandbox still knows the task tracked before the restart: it is checked, not expired.
    await invoke('lkePoll');
    expect(await json(await fetch(`${run.baseUrl}/tasks/${runningId}`))).toMatchObject({
      status: 'running',
      lastError: null,
    });
    const record = await json(await fetch(`${run.baseUrl}/tasks/${lkeId}`));
    expect(record).toMatchObject({ id: lkeId, status: 'succeeded' });
    const list = await json(await fetch(`${run.baseUrl}/tasks?provider=lke&status=succeeded`));
    expect(list.items.map((t: { id: string }) => t.id)).toContain(lkeId);
  }, 120_000);
});

describe('npm start with credentials, LKE_ENDPOINT and SMH_BASE_URL (any endpoint speaking the protocols)', () => {
  let endpoint: Sandbox;
  beforeAll(async () => {
    endpoint = await startSandbox({
      lke: { credentials: { AKIDe2eUser: { secretKey: 'e2e-right-key' } } },
      smh: { libraries: [{ libraryId: 'e2elib', secret: 'e2e-right-key' }] },
    });
    endpoint.smh.setTask({ libraryId: 'e2elib', spaceId: '-', taskId: '5', status: 202 });
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
        SMH_BASE_URL: endpoint.url,
        SMH_LIBRARY_SECRETS: JSON.stringify({ e2elib: key }),
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

        const smh = await fetch(`${run.baseUrl}/smh/libraries/e2elib/spaces/-/tasks/5`);
        expect(smh.status).toBe(status);
        const smhBody = (await smh.json()) as { error?: unknown };
        if (status === 200) expect(smhBody).toMatchObject({ tasks: [{ taskId: '5', status: 'running' }] });
        else
          expect(smhBody.error).toMatchObject({
            code: 'UpstreamAuthFailure',
            upstreamCode: 'WrongLibraryIdOrSecret',
          });
        expect(run.output()).not.toContain(key);
        for (const token of endpoint.smh.issuedTokens) expect(run.output()).not.toContain(token);
      } finally {
        await run.stop();
      }
    },
    120_000,
  );
});

describe('npm start at the edges of a session', () => {
  it('names the variable to change when a port is taken, and says what stopped and where the data stays', async () => {
    const first = await startLocalRun({ DATA_DIR: dataDir });
    try {
      const taken = new URL(first.baseUrl).port;
      await expect(startRun({ DATA_DIR: dataDir, PORT: taken })).rejects.toThrow(
        new RegExp(`port ${taken} is already in use.*PORT=<port> npm start`),
      );
    } finally {
      await first.stop();
    }
    expect(first.output()).toMatch(
      /Stopped: the HTTP API, the pollers, dynalite and the sandbox\. Data stays in /,
    );
  }, 180_000);
});
