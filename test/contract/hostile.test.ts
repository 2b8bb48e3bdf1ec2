import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { lkePoll } from '../../functions/lke/poll';
import { lkeStatus } from '../../functions/lke/status';
import { trackLke } from '../../functions/lke/track';
import { smhPoll } from '../../functions/smh/poll';
import { smhStatus } from '../../functions/smh/status';
import { trackSmh } from '../../functions/smh/track';
import { getTask } from '../../functions/tasks/get';
import { listTasks } from '../../functions/tasks/list';
import { lkeChecker, smhChecker } from '../../lib/tracking/checkers';
import type { TaskStore } from '../../lib/tracking/store';
import type { Sandbox } from '../../sandbox/server';
import { startDynamo, storeFor, testClock, type LocalDynamo } from '../helpers/dynamo';
import { httpEvent, lambdaContext } from '../helpers/lambda';
import { lkeClientFor, lkeSandbox, SEED } from '../helpers/lke';
import { captureLog } from '../helpers/log';
import { LIB, LIB_SECRET, smhClientFor } from '../helpers/smh';

/**
 * A corpus of hostile inputs over every function, through both doors (HTTP events as API Gateway sends them,
 * and direct invokes): none may end in an InternalError (a 500), and none that we refuse as invalid may reach
 * Tencent.
 */
let dynamo: LocalDynamo;
let sandbox: Sandbox;
let store: TaskStore;
const log = captureLog();

beforeAll(async () => {
  [dynamo, sandbox] = await Promise.all([startDynamo(), lkeSandbox()]);
  sandbox.lke.rateLimitPerSecond = 1_000_000;
  sandbox.smh.setLibrary({ libraryId: LIB, secret: LIB_SECRET });
  sandbox.smh.setTask({ libraryId: LIB, spaceId: '-', taskId: '1', status: 202 });
  store = storeFor(dynamo, testClock());
});
afterAll(async () => {
  await Promise.all([dynamo.close(), sandbox.close()]);
});

/** Values an attacker, a buggy client or a confused state machine may send in any field. */
const HOSTILE: unknown[] = [
  null,
  '',
  ' ',
  0,
  -1,
  1.5,
  1e21,
  true,
  false,
  [],
  ['1'],
  [1, 2],
  {},
  { a: 1 },
  'x'.repeat(5000),
  '../etc/passwd',
  '..%2F..%2Fx',
  '%2F',
  'a/b',
  'a?b=1',
  'a#b',
  'a,b',
  'a b',
  '\u0000',
  'line\nbreak',
  'ü',
  '😀',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  '1e2',
  '0x10',
  ' 7 ',
  '-5',
  '18446744073709551616',
  '99999999999999999999',
  'lke_AAAAAAAAAAAAAAAAAAAAAAA',
  'TC3-HMAC-SHA256 Credential=AKIDx/2026-01-01/lke/tc3_request, Signature=abc',
  '{"a":1}',
  '[1]',
];

interface Target {
  name: string;
  handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
  /** A valid direct-invoke input. */
  base: Record<string, unknown>;
  /** Turns a direct-invoke input into the HTTP event API Gateway would send for it. */
  http: (input: Record<string, unknown>) => APIGatewayProxyEventV2;
}

const text = (value: unknown) =>
  value === undefined || value === null
    ? undefined
    : typeof value === 'string'
      ? value
      : JSON.stringify(value);
const defined = (record: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Record<string, string>;

const targets = (): Target[] => [
  {
    name: 'lkeStatus',
    handler: lkeStatus({ lke: () => lkeClientFor(sandbox), store: () => store, log }),
    base: { ...SEED, track: false },
    http: ({ taskId, ...query }) =>
      httpEvent('GET', '/lke/tasks/x', {
        routeKey: 'GET /lke/tasks/{taskId}',
        pathParameters: defined({ taskId: text(taskId) }),
        query: defined(Object.fromEntries(Object.entries(query).map(([k, v]) => [k, text(v)]))),
      }),
  },
  {
    name: 'smhStatus',
    handler: smhStatus({ smh: () => smhClientFor(sandbox), store: () => store, log }),
    base: { libraryId: LIB, spaceId: '-', taskIds: '1', userId: 'u1', track: false },
    http: ({ libraryId, spaceId, taskIds, ...query }) =>
      httpEvent('GET', '/smh/x', {
        routeKey: 'GET /smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}',
        pathParameters: defined({
          libraryId: text(libraryId),
          spaceId: text(spaceId),
          taskIds: text(taskIds),
        }),
        query: defined(Object.fromEntries(Object.entries(query).map(([k, v]) => [k, text(v)]))),
      }),
  },
  {
    name: 'trackLke',
    handler: trackLke({ store: () => store, log }),
    base: { ...SEED, notify: { taskToken: 'tok-hostile', heartbeat: false } },
    http: (body) => httpEvent('POST', '/lke/tasks', { routeKey: 'POST /lke/tasks', body }),
  },
  {
    name: 'trackSmh',
    handler: trackSmh({ store: () => store, log }),
    base: { libraryId: LIB, spaceId: '-', taskIds: ['7'], userId: 'u1' },
    http: (body) => httpEvent('POST', '/smh/tasks', { routeKey: 'POST /smh/tasks', body }),
  },
  {
    name: 'getTask',
    handler: getTask({ store: () => store, log }),
    base: { id: 'lke_AAAAAAAAAAAAAAAAAAAAAAAA' },
    http: ({ id }) =>
      httpEvent('GET', '/tasks/x', {
        routeKey: 'GET /tasks/{id}',
        pathParameters: defined({ id: text(id) }),
      }),
  },
  {
    name: 'listTasks',
    handler: listTasks({ store: () => store, log }),
    base: { provider: 'lke', status: 'pending', limit: 5, nextToken: 'e30' },
    http: (query) =>
      httpEvent('GET', '/tasks', {
        routeKey: 'GET /tasks',
        query: defined(Object.fromEntries(Object.entries(query).map(([k, v]) => [k, text(v)]))),
      }),
  },
];

const pollers = () => [
  lkePoll({ poller: () => ({ store, checker: lkeChecker(() => lkeClientFor(sandbox)), log }), log }),
  smhPoll({ poller: () => ({ store, checker: smhChecker(() => smhClientFor(sandbox)), log }), log }),
];

/** Every input of the corpus for one function: each field replaced by each hostile value, then dropped. */
function corpus(target: Target): Record<string, unknown>[] {
  const inputs: Record<string, unknown>[] = [];
  for (const field of Object.keys(target.base)) {
    for (const value of HOSTILE) inputs.push({ ...target.base, [field]: value });
    const { [field]: _dropped, ...without } = target.base;
    inputs.push(without);
  }
  return inputs;
}

/** Whole payloads that are not what any function takes, and events that only look like HTTP. */
const SHAPES: unknown[] = [
  null,
  undefined,
  '',
  'a string',
  42,
  true,
  [],
  [SEED],
  { requestContext: null, httpMethod: 'GET', ...SEED },
  { requestContext: {}, routeKey: 'GET /x', ...SEED },
  { version: '2.0', routeKey: 'GET /x', requestContext: { http: null } },
  { version: '2.0', routeKey: 'GET /x', requestContext: { http: { method: 7 } } },
  { httpMethod: 'GET', requestContext: { resourcePath: '/' }, pathParameters: { taskId: '8' } },
  { version: '1.0', routeKey: 'GET /x', requestContext: { http: { method: 'GET' } } },
  { __proto__: { taskId: '8' } },
  JSON.parse('{"__proto__":{"polluted":true},"taskId":"8"}'),
];

const GENERIC_MESSAGE =
  /Invalid (input|option|type)|Too (big|small)|Unrecognized key|expected [a-z]+, received/;

const upstreamCalls = () => sandbox.lke.requestCount + sandbox.smh.requestCount;

let total = 0;

describe.each(targets().map((t) => [t.name, t] as const))('%s under hostile input', (_, target) => {
  it('never answers InternalError, and never calls Tencent for input it refuses', async () => {
    const outcomes: string[] = [];
    for (const input of [...corpus(target), ...SHAPES]) {
      // Direct invoke.
      let before = upstreamCalls();
      const direct = await target.handler(input, lambdaContext()).then(
        // A direct invoke answers bare data: an HTTP-shaped answer means it was taken for an HTTP event.
        (output) => {
          const status = (output as { statusCode?: number } | null)?.statusCode;
          return status === undefined ? 'ok' : `http ${status}`;
        },
        (error: Error) => {
          if (error.name === 'InvalidParameter') {
            expect([input, error.message]).not.toEqual([input, expect.stringMatching(GENERIC_MESSAGE)]);
          }
          return error.name;
        },
      );
      total++;
      expect([target.name, 'direct', input, direct]).not.toEqual([target.name, 'direct', input, 'http 500']);
      expect([target.name, 'direct', input, direct]).not.toEqual([
        target.name,
        'direct',
        input,
        'InternalError',
      ]);
      if (direct === 'InvalidParameter') expect([input, upstreamCalls()]).toEqual([input, before]);
      outcomes.push(direct);

      // The same input through API Gateway.
      if (input === null || typeof input !== 'object' || Array.isArray(input)) continue;
      before = upstreamCalls();
      const response = (await target.handler(
        target.http(input as Record<string, unknown>),
        lambdaContext(),
      )) as APIGatewayProxyStructuredResultV2;
      total++;
      expect([target.name, 'http', input, response.statusCode]).not.toEqual([
        target.name,
        'http',
        input,
        500,
      ]);
      const body = JSON.parse(response.body as string) as { error?: { code: string; message: string } };
      if ((response.statusCode as number) >= 400) expect(body.error?.code).toEqual(expect.any(String));
      if (body.error?.code === 'InvalidParameter') {
        expect([input, upstreamCalls()]).toEqual([input, before]);
        // Each refusal names the field and what it takes, never a validator's generic words.
        expect([input, body.error.message]).not.toEqual([input, expect.stringMatching(GENERIC_MESSAGE)]);
      }
      outcomes.push(String(response.statusCode));
    }
    expect(outcomes).toContain('InvalidParameter'); // the corpus does hit the validation
    expect(outcomes).toContain('400');
  }, 120_000);
});

it('pollers take any payload: the schedule event, a direct invoke, or garbage', async () => {
  for (const handler of pollers()) {
    for (const input of SHAPES) {
      total++;
      await expect(
        Promise.resolve(handler(input, lambdaContext(30_000))).catch((e: Error) => e.name),
      ).resolves.not.toBe('InternalError');
    }
  }
});

it('an HTTP body that is not JSON, or is huge, is a 400 JSON error', async () => {
  const handler = trackLke({ store: () => store, log });
  const bodies = ['{', 'not json', '\u0000', '{"taskId":', Buffer.from('{"a":').toString('base64')];
  for (const body of bodies) {
    total++;
    const event = httpEvent('POST', '/lke/tasks', { routeKey: 'POST /lke/tasks', body });
    const response = (await handler(event, lambdaContext())) as APIGatewayProxyStructuredResultV2;
    expect(response.statusCode).toBe(400);
  }
  const base64 = {
    ...httpEvent('POST', '/lke/tasks', {
      routeKey: 'POST /lke/tasks',
      body: Buffer.from('{"a":').toString('base64'),
    }),
    isBase64Encoded: true,
  };
  total++;
  expect(((await handler(base64, lambdaContext())) as APIGatewayProxyStructuredResultV2).statusCode).toBe(
    400,
  );
});

it('covers at least 400 hostile inputs (this file runs its tests in order: this one last)', () => {
  expect(total).toBeGreaterThanOrEqual(400);
});
