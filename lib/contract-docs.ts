import * as z from 'zod/mini';
import * as inputs from './contract';
import * as outputs from './contract-outputs';

const c = { ...inputs, ...outputs };

/**
 * The documents generated from `lib/contract.ts` and `lib/contract-outputs.ts`: the JSON Schemas in `schemas/` (direct invoke, events,
 * outputs) and the OpenAPI 3.1 document of the HTTP API (`openapi.json`). `npm run schemas` writes them; a test
 * fails when the committed files differ. Not bundled into any function: only `openapi.json` is (served as is).
 */

type Json = Record<string, unknown>;
const BASE = 'https://github.com/tencent-task-tracker/schemas/';

interface SchemaFile {
  file: string;
  title: string;
  schema: z.ZodMiniType;
}

/** Inputs: as a caller may send them (io "input"); extra fields are ignored, so none is refused. */
export const INPUT_FILES: SchemaFile[] = [
  { file: 'lke-status.input', title: 'lkeStatus direct-invoke input', schema: c.LKE_STATUS_INPUT },
  { file: 'smh-status.input', title: 'smhStatus direct-invoke input', schema: c.SMH_STATUS_INPUT },
  {
    file: 'track-lke.input',
    title: 'trackLke input (POST /lke/tasks body or direct invoke)',
    schema: c.TRACK_LKE_INPUT,
  },
  {
    file: 'track-smh.input',
    title: 'trackSmh input (POST /smh/tasks body or direct invoke)',
    schema: c.TRACK_SMH_INPUT,
  },
  { file: 'get-task.input', title: 'getTask direct-invoke input', schema: c.GET_TASK_INPUT },
  { file: 'untrack-task.input', title: 'untrackTask direct-invoke input', schema: c.UNTRACK_TASK_INPUT },
  { file: 'list-tasks.input', title: 'listTasks direct-invoke input', schema: c.LIST_TASKS_INPUT },
];

/** Outputs: exactly what the functions return (io "output": no field beyond those listed). */
export const OUTPUT_FILES: SchemaFile[] = [
  {
    file: 'tracked-task',
    title: 'A tracked task (GET /tasks/{id}, event detail, callback output)',
    schema: c.TRACKED_TASK,
  },
  { file: 'lke-task', title: 'LKE task status (lkeStatus output)', schema: c.LKE_TASK },
  { file: 'smh-status.output', title: 'smhStatus output', schema: c.SMH_STATUS_OUTPUT },
  { file: 'track-smh.output', title: 'trackSmh output', schema: c.TRACK_SMH_OUTPUT },
  { file: 'list-tasks.output', title: 'listTasks output', schema: c.LIST_TASKS_OUTPUT },
  {
    file: 'poll.output',
    title: "lkePoll / smhPoll output (the run's summary); any input is accepted",
    schema: c.POLL_SUMMARY,
  },
  {
    file: 'task-event',
    title: 'EventBridge event detail (source tencent-task-tracker)',
    schema: c.TASK_EVENT,
  },
  {
    file: 'webhook-body',
    title: 'A webhook request body (the EventBridge event; infra/webhook.js)',
    schema: c.WEBHOOK_BODY,
  },
  { file: 'error', title: 'An error answer (HTTP body)', schema: c.ERROR_BODY },
];

function generate(
  files: SchemaFile[],
  io: 'input' | 'output',
  uri: (id: string) => string,
): Record<string, Json> {
  const registry = z.registry<{ id: string; title: string }>();
  for (const { file, title, schema } of files) registry.add(schema, { id: file, title });
  const { schemas } = z.toJSONSchema(registry, { io, uri });
  // The title goes right after $id (toJSONSchema takes only the id from a registry's metadata).
  return Object.fromEntries(
    files.map(({ file, title }) => {
      const { $schema, $id, ...rest } = schemas[file] as Json;
      return [file, { $schema, $id, title, ...rest }];
    }),
  );
}

/** `schemas/<name>.json` → its content. */
export function jsonSchemas(): Record<string, Json> {
  const all = {
    ...generate(INPUT_FILES, 'input', (id) => `${BASE}${id}.json`),
    ...generate(OUTPUT_FILES, 'output', (id) => `${BASE}${id}.json`),
  };
  return Object.fromEntries(Object.entries(all).map(([id, schema]) => [`${id}.json`, schema]));
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAPI

/** A component name: `track-smh.output` → `TrackSmhOutput`. */
const component = (id: string) =>
  id
    .split(/[-.]/)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
const ref = (id: string) => ({ $ref: `#/components/schemas/${component(id)}` });

function components(): Record<string, Json> {
  const uri = (id: string) => `#/components/schemas/${component(id)}`;
  const out: Record<string, Json> = {};
  for (const [files, io] of [
    [INPUT_FILES, 'input'],
    [OUTPUT_FILES, 'output'],
  ] as const) {
    for (const [id, schema] of Object.entries(generate(files, io, uri))) {
      const { $schema: _schema, $id: _id, ...rest } = schema;
      out[component(id)] = rest;
    }
  }
  return out;
}

/** A field schema as OpenAPI wants it in a parameter (no `$schema`). */
function param(
  name: string,
  where: 'path' | 'query',
  schema: z.ZodMiniType,
  required: boolean,
  description?: string,
) {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Json;
  return { name, in: where, required, schema: rest, ...(description ? { description } : {}) };
}
const QUERY_FLAG = z.enum(['true', 'false', '1', '0']);

interface Route {
  method: 'get' | 'post' | 'delete';
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  parameters?: Json[];
  body?: string;
  ok: { status: number; schema: string; description: string }[];
  errors: number[];
}

const UPSTREAM_ERRORS = [400, 404, 500, 502, 503, 504];
const smhParams = (withSpace: boolean) => [
  param('libraryId', 'path', c.SMH_LIBRARY_ID, true),
  ...(withSpace ? [param('spaceId', 'path', c.SMH_SPACE_ID, true)] : []),
  param(
    'taskIds',
    'path',
    z.string().check(z.regex(/^[1-9][0-9]{0,18}(,[1-9][0-9]{0,18}){0,99}$/)),
    true,
    'one to 100 task ids, comma-separated',
  ),
  param('userId', 'query', c.SMH_USER_ID, false),
  param(
    'track',
    'query',
    QUERY_FLAG,
    false,
    'track each unfinished task from now on (the answer gains trackingId)',
  ),
];

/** Every route of the HTTP API (serverless.yml declares the same; a test keeps them in step). */
export const ROUTES: Route[] = [
  {
    method: 'get',
    path: '/lke/tasks/{taskId}',
    operationId: 'lkeStatus',
    summary: 'The status of an LKE task, asked of LKE GetTaskStatus now',
    parameters: [
      param('taskId', 'path', c.LKE_TASK_ID, true),
      param('botBizId', 'query', c.LKE_BOT_BIZ_ID, true),
      param('taskType', 'query', c.LKE_TASK_TYPE, true),
      param('track', 'query', QUERY_FLAG, false, 'track the task from now on if it is not finished'),
    ],
    ok: [{ status: 200, schema: 'lke-task', description: 'the task, normalized' }],
    errors: UPSTREAM_ERRORS,
  },
  {
    method: 'get',
    path: '/smh/libraries/{libraryId}/spaces/{spaceId}/tasks/{taskIds}',
    operationId: 'smhStatus',
    summary: 'The status of SMH tasks of a space ("-" for a single-tenant library), asked of SMH now',
    parameters: smhParams(true),
    ok: [
      {
        status: 200,
        schema: 'smh-status.output',
        description: 'the tasks SMH knows, and the ids it does not',
      },
    ],
    errors: UPSTREAM_ERRORS,
  },
  {
    method: 'get',
    path: '/smh/libraries/{libraryId}/tasks/{taskIds}',
    operationId: 'smhLibraryStatus',
    summary: 'The status of library-level SMH tasks (history clearing), asked of SMH now',
    parameters: smhParams(false),
    ok: [
      {
        status: 200,
        schema: 'smh-status.output',
        description: 'the tasks SMH knows, and the ids it does not',
      },
    ],
    errors: UPSTREAM_ERRORS,
  },
  {
    method: 'post',
    path: '/lke/tasks',
    operationId: 'trackLke',
    summary:
      'Track an LKE task until it finishes (optionally calling a waiting Step Functions execution back)',
    body: 'track-lke.input',
    ok: [
      { status: 201, schema: 'tracked-task', description: 'tracking started: the new record' },
      { status: 200, schema: 'tracked-task', description: 'already tracked: the record' },
    ],
    errors: [400, 409, 500, 503],
  },
  {
    method: 'post',
    path: '/smh/tasks',
    operationId: 'trackSmh',
    summary: 'Track SMH tasks until they finish',
    body: 'track-smh.input',
    ok: [
      { status: 201, schema: 'track-smh.output', description: 'tracking started for at least one task' },
      { status: 200, schema: 'track-smh.output', description: 'every task was already tracked' },
    ],
    errors: [400, 409, 500, 503],
  },
  {
    method: 'get',
    path: '/tasks/{id}',
    operationId: 'getTask',
    summary: 'A tracked task with its history',
    parameters: [param('id', 'path', c.TRACKING_ID, true, 'the tracking id (lke_… or smh_…)')],
    ok: [{ status: 200, schema: 'tracked-task', description: 'the record' }],
    errors: [400, 404, 500, 503],
  },
  {
    method: 'delete',
    path: '/tasks/{id}',
    operationId: 'untrackTask',
    summary:
      'Stop tracking a task: it ends untracked, waiting executions get TaskUntracked, an event announces it. Does not cancel the Tencent task.',
    parameters: [param('id', 'path', c.TRACKING_ID, true, 'the tracking id (lke_… or smh_…)')],
    ok: [
      {
        status: 200,
        schema: 'tracked-task',
        description: 'the record: untracked now, or as it was when it had already finished or been untracked',
      },
    ],
    errors: [400, 404, 500, 503],
  },
  {
    method: 'get',
    path: '/tasks',
    operationId: 'listTasks',
    summary:
      'Tracked tasks, by provider and status (newest first), or by upstream identity (in identity order), paged',
    description:
      'Identity filters: provider=lke with botBizId, then optionally taskType and taskId (all three: one lookup); provider=smh with libraryId, then optionally spaceId and taskId. taskType and taskId need their scope (botBizId or libraryId), LKE and SMH filters never mix, an SMH taskId is a positive integer; any other combination, and any parameter not listed, is 400 InvalidParameter naming it. A filtered call reads at most 300 index entries: a page may hold fewer than limit records, even none, with a nextToken. nextToken is bound to every parameter of the first page.',
    parameters: [
      param('provider', 'query', z.enum(c.PROVIDERS), false, 'required with an identity filter'),
      param('status', 'query', z.enum(c.TRACKED_STATUSES), false),
      param('botBizId', 'query', c.LKE_BOT_BIZ_ID, false, 'LKE tasks of this application (provider=lke)'),
      param('taskType', 'query', c.LKE_TASK_TYPE, false, 'with botBizId: tasks of this type'),
      param('libraryId', 'query', c.SMH_LIBRARY_ID, false, 'SMH tasks of this library (provider=smh)'),
      param(
        'spaceId',
        'query',
        c.SMH_SPACE_ID,
        false,
        'with libraryId: tasks of this space ("-": single-tenant)',
      ),
      param(
        'taskId',
        'query',
        c.LKE_TASK_ID,
        false,
        'with botBizId or libraryId: the upstream task id (with botBizId and taskType: one lookup; for SMH a positive integer)',
      ),
      param(
        'limit',
        'query',
        z.string().check(z.regex(/^[0-9]{1,3}$/)),
        false,
        'page size, 1 to 100 (default 25)',
      ),
      param(
        'nextToken',
        'query',
        z.string().check(z.regex(/^[A-Za-z0-9_-]{1,2048}$/)),
        false,
        'from the previous page',
      ),
    ],
    ok: [{ status: 200, schema: 'list-tasks.output', description: 'a page of records' }],
    errors: [400, 500, 503],
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApi',
    summary: 'This document',
    ok: [{ status: 200, schema: '', description: 'the OpenAPI 3.1 document of this API' }],
    errors: [400],
  },
];

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  404: 'Not found',
  409: 'Conflict',
  500: 'Not configured, or an internal error',
  502: 'The upstream failed',
  503: 'Throttled or the table is unavailable: retry after Retry-After seconds when given',
  504: 'The upstream did not answer in time',
};

function errorResponse(status: number) {
  const codes = Object.entries(c.ERROR_CODES)
    .filter(([, s]) => s === status)
    .map(([code]) => code);
  return {
    description: `${STATUS_TEXT[status]}: error.code is one of ${codes.join(', ')}`,
    ...(status === 503
      ? {
          headers: {
            'Retry-After': { description: 'seconds to wait', schema: { type: 'integer', minimum: 1 } },
          },
        }
      : {}),
    content: {
      'application/json': {
        schema: {
          allOf: [ref('error'), { properties: { error: { properties: { code: { enum: codes } } } } }],
        },
      },
    },
  };
}

export function openApiDocument(version: string): Json {
  const paths: Record<string, Json> = {};
  for (const route of ROUTES) {
    const responses: Json = {};
    for (const ok of route.ok) {
      responses[String(ok.status)] = {
        description: ok.description,
        content: { 'application/json': { schema: ok.schema ? ref(ok.schema) : { type: 'object' } } },
      };
    }
    for (const status of [...new Set([...route.errors, 404, 500])].sort((a, b) => a - b)) {
      responses[String(status)] = errorResponse(status);
    }
    paths[route.path] = {
      ...(paths[route.path] ?? {}),
      [route.method]: {
        operationId: route.operationId,
        summary: route.summary,
        ...(route.description ? { description: route.description } : {}),
        ...(route.parameters ? { parameters: route.parameters } : {}),
        ...(route.body
          ? { requestBody: { required: true, content: { 'application/json': { schema: ref(route.body) } } } }
          : {}),
        responses,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tencent-task-tracker',
      version,
      description:
        'Status of Tencent Cloud asynchronous tasks (LKE GetTaskStatus, SMH Query Task), on demand and tracked until they finish. Every error is {"error":{"code","message"}}; an unknown route answers 404 RouteNotFound. Generated from lib/contract.ts by npm run schemas.',
    },
    servers: [{ url: 'http://localhost:3000', description: 'npm start (sandbox mode, no signing)' }],
    security: [{ sigv4: [] }],
    paths,
    components: {
      schemas: components(),
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description:
            'AWS Signature Version 4 (API Gateway aws_iam authorization): sign each request for service execute-api with credentials allowed execute-api:Invoke on the route.',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
}
