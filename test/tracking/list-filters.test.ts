import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { listTasks } from '../../functions/tasks/list';
import { trackingId, type TaskIdentity } from '../../lib/tracking/model';
import { lkeIdentity, smhIdentity, track, untrackTask } from '../../lib/tracking/service';
import { IDENTITY_MAX_QUERIES, TaskStore, toItem } from '../../lib/tracking/store';
import { newTask } from '../../lib/tracking/transitions';
import { BatchWriteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { reindex } from '../../scripts/reindex';
import { marshall } from '@aws-sdk/util-dynamodb';
import { faultProxy } from '../helpers/fault-proxy';
import { startDynamo, storeFor, testClock, testConfig, type LocalDynamo } from '../helpers/dynamo';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { captureLog } from '../helpers/log';
import { DynamoDb } from '../../lib/aws/dynamodb';

let dynamo: LocalDynamo;
let store: TaskStore;
const log = captureLog();

beforeAll(async () => {
  dynamo = await startDynamo();
  store = storeFor(dynamo, testClock());
  const lke = (botBizId: string, taskType: string, taskId: string) =>
    lkeIdentity({ botBizId, taskType, taskId });
  const smh = (libraryId: string, spaceId: string | null, taskId: string, userId?: string) =>
    smhIdentity({ libraryId, ...(spaceId ? { spaceId } : {}), ...(userId ? { userId } : {}) }, taskId);
  const identities: TaskIdentity[] = [
    lke('100', 'ExportAttributeLabel', '1'),
    lke('100', 'ExportAttributeLabel', '2'),
    lke('100', 'ExportAttributeLabelX', '1'), // a task type that starts with another's name
    lke('100', 'ModifyAttributeLabel', '1'),
    lke('100', 'ModifyAttributeLabel', '3'),
    lke('1001', 'ExportAttributeLabel', '1'), // an application id that starts with another's
    smh('libA', '-', '12'),
    smh('libA', '-', '123'), // a task id that starts with another's
    smh('libA', 'space1', '12'),
    smh('libA', 'space1', '12', 'user7'), // the same task id for another user
    smh('libA', null, '12'), // library level
    smh('libB', '-', '12'),
  ];
  for (const identity of identities) await track(store, identity);
  const untracked = await track(store, lke('100', 'ModifyAttributeLabel', '3'));
  await untrackTask(store, untracked.task.id, 'req-1');
});
afterAll(async () => {
  await dynamo.close();
});

async function list(query: Record<string, string>) {
  const response = (await listTasks({ store: () => store, log })(
    httpEvent('GET', '/tasks', { query, routeKey: 'GET /tasks' }),
    lambdaContext(),
  )) as APIGatewayProxyStructuredResultV2;
  return {
    status: response.statusCode,
    body: JSON.parse(response.body as string) as {
      items?: Record<string, string>[];
      nextToken?: string;
      error?: { code: string; message: string };
    },
  };
}
const ids = (items: Record<string, string | null>[] = []) =>
  items.map((t) =>
    t.provider === 'lke'
      ? `${t.botBizId}/${t.taskType}/${t.taskId}`
      : `${t.libraryId}/${t.spaceId ?? '~'}/${t.taskId}${t.userId ? `/${t.userId}` : ''}`,
  );

describe('GET /tasks by upstream identity', () => {
  it('lists an LKE application, a task type in it, and a task id in it, without a neighbour whose key starts alike', async () => {
    expect(ids((await list({ provider: 'lke', botBizId: '100' })).body.items)).toEqual([
      '100/ExportAttributeLabel/1',
      '100/ExportAttributeLabel/2',
      '100/ExportAttributeLabelX/1',
      '100/ModifyAttributeLabel/1',
      '100/ModifyAttributeLabel/3',
    ]);
    expect(
      ids((await list({ provider: 'lke', botBizId: '100', taskType: 'ExportAttributeLabel' })).body.items),
    ).toEqual(['100/ExportAttributeLabel/1', '100/ExportAttributeLabel/2']);
    expect(ids((await list({ provider: 'lke', botBizId: '100', taskId: '1' })).body.items)).toEqual([
      '100/ExportAttributeLabel/1',
      '100/ExportAttributeLabelX/1',
      '100/ModifyAttributeLabel/1',
    ]);
    expect(ids((await list({ provider: 'lke', botBizId: '100', status: 'untracked' })).body.items)).toEqual([
      '100/ModifyAttributeLabel/3',
    ]);
  });

  it('finds one LKE task by its whole identity, in one read', async () => {
    const one = await list({
      provider: 'lke',
      botBizId: '1001',
      taskType: 'ExportAttributeLabel',
      taskId: '1',
    });
    expect(one.status).toBe(200);
    expect(ids(one.body.items)).toEqual(['1001/ExportAttributeLabel/1']);
    expect(one.body.nextToken).toBeUndefined();
    const none = await list({
      provider: 'lke',
      botBizId: '1001',
      taskType: 'ExportAttributeLabel',
      taskId: '9',
    });
    expect(none.body).toEqual({ items: [] });
    const wrongStatus = await list({
      provider: 'lke',
      botBizId: '1001',
      taskType: 'ExportAttributeLabel',
      taskId: '1',
      status: 'failed',
    });
    expect(wrongStatus.body).toEqual({ items: [] });
  });

  it('lists an SMH library, a space in it, and a task id in it (every user of it)', async () => {
    expect(ids((await list({ provider: 'smh', libraryId: 'libA' })).body.items)).toEqual([
      'libA/-/12',
      'libA/-/123',
      'libA/space1/12',
      'libA/space1/12/user7',
      'libA/~/12',
    ]);
    expect(
      ids((await list({ provider: 'smh', libraryId: 'libA', spaceId: '-', taskId: '12' })).body.items),
    ).toEqual(['libA/-/12']);
    expect(
      ids((await list({ provider: 'smh', libraryId: 'libA', spaceId: 'space1', taskId: '12' })).body.items),
    ).toEqual(['libA/space1/12', 'libA/space1/12/user7']);
    expect(ids((await list({ provider: 'smh', libraryId: 'libA', taskId: '12' })).body.items)).toEqual([
      'libA/-/12',
      'libA/space1/12',
      'libA/space1/12/user7',
      'libA/~/12',
    ]);
  });

  it('pages with a nextToken bound to its query', async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await list({
        provider: 'lke',
        botBizId: '100',
        limit: '2',
        ...(nextToken ? { nextToken } : {}),
      });
      expect(page.status).toBe(200);
      seen.push(...ids(page.body.items));
      nextToken = page.body.nextToken;
      pages++;
    } while (nextToken && pages < 10);
    expect(seen).toEqual(ids((await list({ provider: 'lke', botBizId: '100' })).body.items));
    const first = await list({ provider: 'lke', botBizId: '100', limit: '2' });
    const token = first.body.nextToken as string;
    const others: Record<string, string>[] = [
      { provider: 'lke', botBizId: '1001', limit: '2' },
      { provider: 'lke', botBizId: '100', taskType: 'ModifyAttributeLabel', limit: '2' },
      { provider: 'lke', botBizId: '100', limit: '3' },
      { provider: 'lke', limit: '2' },
    ];
    for (const other of others) {
      const refused = await list({ ...other, nextToken: token });
      expect(refused.status).toBe(400);
      expect(refused.body.error?.message).toMatch(/nextToken/);
    }
  });

  it('reads a bounded part of a large scope per call: a rare status comes as short pages with a nextToken', async () => {
    const app = '555';
    const many = IDENTITY_MAX_QUERIES * 30 + 20; // more index entries than one call reads
    const items = Array.from({ length: many }, (_, n) => {
      const task = newTask(
        lkeIdentity({ botBizId: app, taskType: 'T', taskId: `a${String(n).padStart(4, '0')}` }),
        store.context(),
      );
      return toItem({ ...task, version: 1 }, store.config).item;
    });
    for (let i = 0; i < items.length; i += 25)
      await dynamo.client.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [testConfig().tableName]: items
              .slice(i, i + 25)
              .map((item) => ({ PutRequest: { Item: marshall(item) } })),
          },
        }),
      );
    const rare = await track(store, lkeIdentity({ botBizId: app, taskType: 'T', taskId: 'zzzz' }));
    await untrackTask(store, rare.task.id, 'req-rare');
    const first = await list({ provider: 'lke', botBizId: app, status: 'untracked' });
    expect(first.status).toBe(200);
    expect(first.body.items).toEqual([]); // the budget ran out before the match
    expect(first.body.nextToken).toEqual(expect.any(String));
    const found: string[] = [];
    let nextToken = first.body.nextToken;
    for (let calls = 0; nextToken && calls < 5; calls++) {
      const page = await list({ provider: 'lke', botBizId: app, status: 'untracked', nextToken });
      found.push(...ids(page.body.items));
      nextToken = page.body.nextToken;
    }
    expect(found).toEqual([`${app}/T/zzzz`]);
  });

  it('finds records written before the index existed once `npm run reindex` gave them its keys', async () => {
    const identity = lkeIdentity({ botBizId: '777', taskType: 'T', taskId: '1' });
    const { item } = toItem(
      { ...newTask(identity, store.context()), status: 'succeeded', version: 3 },
      store.config,
    );
    const { scope: _scope, scopeSk: _scopeSk, ...old } = item as Record<string, unknown>; // as an older version wrote it
    await dynamo.client.send(new PutItemCommand({ TableName: testConfig().tableName, Item: marshall(old) }));
    expect((await list({ provider: 'lke', botBizId: '777' })).body.items).toEqual([]);
    const first = await reindex(dynamo.client, testConfig().tableName);
    expect(first.added).toBe(1);
    expect(ids((await list({ provider: 'lke', botBizId: '777' })).body.items)).toEqual(['777/T/1']);
    expect(await reindex(dynamo.client, testConfig().tableName)).toEqual({ scanned: 0, added: 0 });
    expect(await store.get(trackingId(identity))).toMatchObject({ status: 'succeeded', version: 3 });
  });

  it('refuses filters that do not combine, naming the field, before any table call', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ botBizId: '100' }, /^botBizId filters LKE tasks: add provider=lke/],
      [{ provider: 'smh', botBizId: '100' }, /^botBizId filters LKE tasks/],
      [{ provider: 'lke', taskType: 'ExportAttributeLabel' }, /^taskType needs botBizId/],
      [{ provider: 'lke', taskId: '1' }, /^taskId needs its scope/],
      [{ provider: 'smh', spaceId: '-' }, /^spaceId needs libraryId/],
      [{ provider: 'lke', botBizId: '100', libraryId: 'libA' }, /cannot be combined/],
      [{ provider: 'lke', botBizId: 'abc' }, /^botBizId must contain digits only/],
      [{ provider: 'smh', libraryId: 'libA', taskId: 'x1' }, /^taskId must contain a positive integer/],
      [{ provider: 'lke', botBizId: '99999999999999999999' }, /^botBizId must be at most/],
    ];
    const proxy = await faultProxy(dynamo.endpoint, () => 'pass');
    const counted = new TaskStore({ client: DynamoDb.local(proxy.url), config: testConfig() });
    try {
      for (const [query, message] of cases) {
        const response = (await listTasks({ store: () => counted, log })(
          httpEvent('GET', '/tasks', { query, routeKey: 'GET /tasks' }),
          lambdaContext(),
        )) as APIGatewayProxyStructuredResultV2;
        expect([response.statusCode, JSON.parse(response.body as string).error.message]).toEqual([
          400,
          expect.stringMatching(message),
        ]);
      }
      expect(proxy.seen).toHaveLength(0);
      // The same store does reach the table for a good query (the proxy sees it).
      await counted.list({ provider: 'lke' });
      expect(proxy.seen.map((r) => r.operation)).toEqual(['Query']);
    } finally {
      await proxy.close();
    }
  });
});
