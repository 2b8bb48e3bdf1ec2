import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { lkeStatus } from '../../functions/lke/status';
import { trackLke } from '../../functions/lke/track';
import { getTask } from '../../functions/tasks/get';
import { listTasks } from '../../functions/tasks/list';
import { StoreUnavailableError } from '../../lib/errors';
import { lkeChecker } from '../../lib/tracking/checkers';
import type { Observation } from '../../lib/tracking/model';
import { poll } from '../../lib/tracking/poller';
import { lkeIdentity, track } from '../../lib/tracking/service';
import { DynamoDb } from '../../lib/aws/dynamodb';
import { TaskStore } from '../../lib/tracking/store';
import { observe } from '../../lib/tracking/transitions';
import type { Sandbox } from '../../sandbox/server';
import { startDynamo, storeFor, testClock, testConfig, type LocalDynamo } from '../helpers/dynamo';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { lkeClientFor, lkeSandbox, SEED } from '../helpers/lke';
import { captureLog } from '../helpers/log';

let dynamo: LocalDynamo;
let sandbox: Sandbox;
const log = captureLog();

beforeEach(async () => {
  [dynamo, sandbox] = await Promise.all([startDynamo(), lkeSandbox()]);
});
afterEach(async () => {
  await Promise.all([dynamo.close(), sandbox.close()]);
});

const storeAt = (endpoint: string) =>
  new TaskStore({ client: DynamoDb.local(endpoint), config: testConfig() });
const listen = async (server: Server | ReturnType<typeof createTcpServer>) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/**
 * A loopback proxy in front of dynalite that, when told to, lets a PutItem through and then drops its answer
 * (the connection dies after the write happened), as a network fault would. The real SDK then retries the Put.
 */
async function lossyProxy(target: string) {
  const state = { dropPutAnswers: 0, puts: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === 'string' && name !== 'host' && name !== 'connection') headers[name] = value;
      const answer = await fetch(target + (req.url ?? '/'), {
        method: req.method,
        headers,
        body: Buffer.concat(chunks),
      });
      const body = Buffer.from(await answer.arrayBuffer());
      if (req.headers['x-amz-target'] === 'DynamoDB_20120810.PutItem') {
        state.puts++;
        if (state.dropPutAnswers > 0) {
          state.dropPutAnswers--;
          req.socket.destroy(); // the write happened; its answer is lost
          return;
        }
      }
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(body);
    });
  });
  const url = await listen(server);
  return {
    url,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const reading = (status: Observation['status'], at: number): Observation => ({
  status,
  upstreamStatus: status.toUpperCase(),
  result: null,
  message: '',
  checkedAt: new Date(at).toISOString(),
});

describe('a write whose answer was lost', () => {
  it('recognises itself when the SDK retries it: a creation stays a creation, a change is applied once', async () => {
    const proxy = await lossyProxy(dynamo.endpoint);
    try {
      const store = storeAt(proxy.url);
      const identity = lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '1' });
      proxy.state.dropPutAnswers = 1;
      const created = await track(store, identity);
      expect(proxy.state.puts).toBe(2); // the SDK retried the Put whose answer it never got
      expect(created).toMatchObject({ created: true, task: { version: 1 } });

      proxy.state.dropPutAnswers = 1;
      const changed = await store.update(created.task.id, (current, ctx) =>
        observe(current, reading('running', Date.now()), ctx),
      );
      expect(changed?.task).toMatchObject({ status: 'running', attempts: 1, version: 2 });
      expect(await store.get(created.task.id)).toMatchObject({ attempts: 1, version: 2 });
    } finally {
      await proxy.close();
    }
  });
});

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
const call = async (handler: Handler, routeKey: string, options: Parameters<typeof httpEvent>[2] = {}) => {
  const [method, path] = routeKey.split(' ') as [string, string];
  const started = Date.now();
  const response = (await handler(
    httpEvent(method, path, { routeKey, ...options }),
    lambdaContext(4_000),
  )) as APIGatewayProxyStructuredResultV2;
  return {
    status: response.statusCode,
    headers: response.headers ?? {},
    body: JSON.parse(response.body as string),
    ms: Date.now() - started,
  };
};

describe.each([
  [
    'killed (connection refused)',
    async () => {
      const server = createTcpServer();
      const url = await listen(server);
      await new Promise((resolve) => server.close(resolve));
      return { url, close: async () => undefined };
    },
  ],
  [
    'frozen (accepts connections, never answers)',
    async () => {
      const sockets: Socket[] = [];
      const server = createTcpServer((socket) => sockets.push(socket));
      const url = await listen(server);
      return {
        url,
        close: () =>
          new Promise<void>((resolve) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => resolve());
          }),
      };
    },
  ],
])('with the store %s', (_, start) => {
  let down: { url: string; close(): Promise<void> };
  let store: TaskStore;
  beforeEach(async () => {
    down = await start();
    store = storeAt(down.url);
  });
  afterEach(() => down.close());

  it.each([
    ['POST /lke/tasks', trackLke, { body: SEED }],
    ['GET /tasks', listTasks, {}],
    ['GET /tasks/{id}', getTask, { pathParameters: { id: 'lke_AAAAAAAAAAAAAAAAAAAAAAAA' } }],
  ] as const)(
    '%s answers 503 StoreUnavailable with Retry-After, within the invocation',
    async (route, fn, options) => {
      const response = await call(fn({ store: () => store, log }) as Handler, route, options);
      expect(response.status).toBe(503);
      expect(response.body.error).toMatchObject({
        code: 'StoreUnavailable',
        message: expect.stringMatching(/retry later/),
      });
      expect(response.headers['Retry-After']).toBe('5');
      expect(response.ms).toBeLessThan(4_000);
    },
    15_000,
  );

  it('?track=true keeps the upstream answer and says tracking failed', async () => {
    const handler = lkeStatus({ lke: () => lkeClientFor(sandbox), store: () => store, log }) as Handler;
    const response = await call(handler, 'GET /lke/tasks/{taskId}', {
      pathParameters: { taskId: SEED.taskId },
      query: { botBizId: SEED.botBizId, taskType: SEED.taskType, track: 'true' },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'succeeded',
      trackingError: { code: 'StoreUnavailable' },
    });
    expect(response.body).not.toHaveProperty('trackingId');
  }, 15_000);

  it('a poll run ends with StoreUnavailable before its deadline', async () => {
    const started = Date.now();
    const client = lkeClientFor(sandbox);
    const error = await poll(
      { store, checker: lkeChecker(() => client), log },
      { deadline: Date.now() + 5_000, claimMarginMs: 1_000 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(log.text()).toContain('poll run stopped: the tracking table is unavailable');
  }, 15_000);
});

describe('page tokens', () => {
  it('refuses forged, replayed and foreign tokens with 400, never a 500', async () => {
    const store = storeFor(dynamo, testClock());
    for (let i = 0; i < 5; i++)
      await track(store, lkeIdentity({ botBizId: '1', taskType: 'T', taskId: String(i) }));
    const handler = listTasks({ store: () => store, log }) as Handler;
    const first = await call(handler, 'GET /tasks', {
      query: { provider: 'lke', status: 'pending', limit: '2' },
    });
    expect(first.status).toBe(200);
    const token = first.body.nextToken as string;
    const forge = (cursor: unknown) => Buffer.from(JSON.stringify(cursor)).toString('base64url');
    const real = JSON.parse(Buffer.from(token, 'base64url').toString()) as {
      key: { id: string; listSk: string };
    };
    const cases: Record<string, string>[] = [
      // the token of another query
      { provider: 'lke', status: 'running', limit: '2', nextToken: token },
      { provider: 'lke', status: 'pending', limit: '3', nextToken: token },
      // a key outside the status range, and empty strings
      {
        provider: 'lke',
        status: 'pending',
        limit: '2',
        nextToken: forge({
          ...real,
          key: { ...real.key, listSk: `succeeded#${real.key.listSk.split('#').slice(1).join('#')}` },
        }),
      },
      {
        provider: 'lke',
        status: 'pending',
        limit: '2',
        nextToken: forge({ ...real, key: { id: '', provider: 'lke', listSk: '' } }),
      },
      {
        provider: 'lke',
        status: 'pending',
        limit: '2',
        nextToken: forge({ ...real, key: { ...real.key, id: 'lke_BBBBBBBBBBBBBBBBBBBBBBBB' } }),
      },
      { provider: 'lke', status: 'pending', limit: '2', nextToken: forge({ v: 1 }) },
    ];
    for (const query of cases) {
      const response = await call(handler, 'GET /tasks', { query });
      expect([query, response.status, response.body.error?.code]).toEqual([query, 400, 'InvalidParameter']);
    }
    const second = await call(handler, 'GET /tasks', {
      query: { provider: 'lke', status: 'pending', limit: '2', nextToken: token },
    });
    expect(second.status).toBe(200);
    expect(second.body.items).toHaveLength(2);
  });
});
