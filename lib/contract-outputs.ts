import * as z from 'zod/mini';
import {
  LKE_BOT_BIZ_ID,
  LKE_TASK_ID,
  LKE_TASK_TYPE,
  PROVIDERS,
  SMH_LIBRARY_ID,
  SMH_TASK_ID,
  TASK_STATUSES,
  TRACKED_STATUSES,
  TRACKING_ID_PATTERN,
} from './contract';
import { CHANGED_DETAIL_TYPE, EVENT_SOURCE, TERMINAL_DETAIL_TYPES } from './handover/payloads';

/**
 * What the functions answer, as zod schemas: the other half of the contract in `lib/contract.ts`. Used by
 * `lib/contract-docs.ts` (JSON Schemas, OpenAPI) and by the tests that check real answers against them; never
 * loaded by a function at run time (import types only from runtime code; the packaging test checks the bundles).
 */

const DATE_TIME = z.iso.datetime();
const COUNT = z.int().check(z.minimum(0));
export const RESULT = z
  .union([z.record(z.string(), z.unknown()), z.array(z.unknown()), z.null()])
  .check(
    z.describe(
      'as the upstream sent it: an object, or an array of per-item results (SMH batch operations), or null',
    ),
  );
const TRACKING_ERROR = z
  .strictObject({ code: z.string(), message: z.string() })
  .check(
    z.describe(
      '?track=true when the table was unavailable: the status is real, the task was not tracked this time',
    ),
  );

export const LKE_TASK = z.strictObject({
  provider: z.literal('lke'),
  taskId: LKE_TASK_ID,
  taskType: LKE_TASK_TYPE,
  botBizId: LKE_BOT_BIZ_ID,
  status: z.enum(TASK_STATUSES),
  upstreamStatus: z
    .nullable(z.string())
    .check(z.describe('LKE Status as sent (PENDING, RUNNING, SUCCESS, FAILED…)')),
  message: z.string(),
  result: z.object({ cosPath: z.nullable(z.string()) }),
  requestId: z.string(),
  checkedAt: DATE_TIME,
  trackingId: z.optional(z.string().check(z.regex(/^lke_[A-Za-z0-9_-]{24}$/))),
  trackingError: z.optional(TRACKING_ERROR),
});

export const SMH_TASK = z.strictObject({
  provider: z.literal('smh'),
  libraryId: SMH_LIBRARY_ID,
  spaceId: z.nullable(z.string()).check(z.describe('null for a library-level task')),
  taskId: SMH_TASK_ID,
  status: z.enum(TASK_STATUSES),
  upstreamStatus: z
    .int()
    .check(
      z.describe(
        '202 running, 200/204 succeeded, 500 failed, 499 cancelled (failed), 207/400 failed; others running',
      ),
    ),
  result: RESULT,
  message: z.string(),
  checkedAt: DATE_TIME,
  trackingId: z.optional(z.string().check(z.regex(/^smh_[A-Za-z0-9_-]{24}$/))),
  trackingError: z.optional(TRACKING_ERROR),
});

export const SMH_STATUS_OUTPUT = z.strictObject({
  tasks: z.array(SMH_TASK),
  notFound: z.array(z.string()).check(z.describe('ids SMH did not return, or refused with 404 TaskNotFound')),
});

const UPSTREAM_STATUS = z.union([z.string(), z.int(), z.null()]);
export const RESULT_CUT = z
  .strictObject({
    originalBytes: COUNT,
    storedBytes: COUNT,
    totalItems: z.optional(COUNT),
    keptItems: z.optional(COUNT),
    droppedKeys: z.optional(z.array(z.string()).check(z.maxLength(20))),
    unstorable: z.optional(
      z.string().check(z.describe('why the result was left out: a value in it that DynamoDB cannot store')),
    ),
  })
  .check(
    z.describe(
      'the result was too large for the table (400 KB) and was cut: an array keeps its leading items, an object the keys that fit; or it held a value DynamoDB cannot store and was left out (`unstorable`)',
    ),
  );
const TRACKED_TASK_SHAPE = {
  id: z.string().check(z.regex(TRACKING_ID_PATTERN)),
  provider: z.enum(PROVIDERS),
  taskId: z.string(),
  taskType: z.optional(z.string()),
  botBizId: z.optional(z.string()),
  libraryId: z.optional(z.string()),
  spaceId: z.optional(z.nullable(z.string())),
  userId: z.optional(z.string()),
  status: z.enum(TRACKED_STATUSES),
  upstreamStatus: UPSTREAM_STATUS,
  result: RESULT,
  resultTruncated: z.nullable(RESULT_CUT),
  message: z.string(),
  attempts: COUNT,
  lastError: z.nullable(z.strictObject({ code: z.string(), message: z.string(), at: DATE_TIME })),
  firstSeenAt: DATE_TIME,
  trackedAt: DATE_TIME.check(z.describe('when tracking (re)started: the max age counts from here')),
  lastCheckedAt: z.nullable(DATE_TIME),
  nextCheckAt: z.nullable(DATE_TIME),
  finishedAt: z.nullable(DATE_TIME),
  history: z.array(
    z.object({ status: z.enum(TRACKED_STATUSES), upstreamStatus: UPSTREAM_STATUS, at: DATE_TIME }),
  ),
  waiters: COUNT.check(z.describe('Step Functions executions waiting for a callback')),
  untracked: z.optional(
    z
      .strictObject({
        at: DATE_TIME,
        requestId: z.string().check(z.describe('the AWS request id of the untrackTask call')),
      })
      .check(z.describe('while untracked: when, and by which request, tracking was stopped')),
  ),
  undelivered: z
    .array(
      z.strictObject({
        id: z.string(),
        kind: z.enum(['event', 'callback']),
        detailType: z.optional(z.string()),
        code: z.string(),
        reason: z.string(),
        at: DATE_TIME,
      }),
    )
    .check(z.maxLength(20), z.describe('notifications given up on (dead letters), the most recent ones')),
  resultOmitted: z.optional(
    z
      .literal(true)
      .check(
        z.describe(
          'events and callbacks only: the result was left out to stay under 256 KB (result is null): read it with getTask',
        ),
      ),
  ),
};
export const TRACKED_TASK = z.strictObject({
  ...TRACKED_TASK_SHAPE,
  created: z.optional(
    z.boolean().check(z.describe('tracking answers only: whether this call created the record')),
  ),
});
export const TRACK_SMH_OUTPUT = z.strictObject({ tasks: z.array(TRACKED_TASK) });
export const LIST_TASKS_OUTPUT = z.strictObject({
  items: z.array(TRACKED_TASK),
  nextToken: z.optional(z.string()),
});

export const TASK_EVENT = z
  .strictObject({
    eventId: z
      .string()
      .check(
        z.regex(/^(lke|smh)_[A-Za-z0-9_-]{24}\.v[0-9]+\.(changed|final)$/),
        z.describe('stable across redeliveries: de-duplicate on it'),
      ),
    ...TRACKED_TASK_SHAPE,
  })
  .check(
    z.describe(
      'detail-type is Task Status Changed for every status change, plus Task Succeeded / Task Failed / Task Expired / Task Untracked for terminal ones. eventId is stable across redeliveries: de-duplicate on it.',
    ),
  );

/**
 * What a webhook receives (infra/webhook.js, no input transformer): the event EventBridge builds from our PutEvents
 * entry (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html), `detail` as above.
 */
export const WEBHOOK_BODY = z
  .strictObject({
    version: z.literal('0'),
    id: z.uuid().check(z.describe('EventBridge\u2019s own, new on every put: never de-duplicate on it')),
    'detail-type': z.enum([CHANGED_DETAIL_TYPE, ...Object.values(TERMINAL_DETAIL_TYPES)]),
    source: z.literal(EVENT_SOURCE),
    account: z.string().check(z.regex(/^[0-9]{12}$/)),
    time: DATE_TIME.check(z.describe('the change\u2019s time, to the second')),
    region: z.string().check(z.minLength(1)),
    resources: z.array(z.string()),
    detail: TASK_EVENT,
  })
  .check(
    z.describe(
      'The body of a webhook request: the EventBridge event around the event detail. De-duplicate on detail.eventId.',
    ),
  );

export const POLL_SUMMARY = z.strictObject({
  claimed: COUNT,
  checked: COUNT,
  changed: COUNT,
  finished: COUNT,
  failed: COUNT,
  rescheduled: COUNT,
  throttled: COUNT,
  notified: COUNT,
  deadLettered: COUNT.check(
    z.describe('notifications given up on in this run (see the record\u2019s undelivered)'),
  ),
  lagMaxMs: COUNT.check(z.describe('the latest claimed check: now minus its nextCheckAt, at claim time')),
  lagP50Ms: COUNT.check(z.describe('the median lateness of the claimed checks')),
  outboxOldestAgeMs: COUNT.check(
    z.describe('age of the oldest notification still owed among the records claimed (0: none)'),
  ),
  durationMs: COUNT,
});

export const ERROR_BODY = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    upstreamCode: z.optional(z.string()),
    requestId: z.optional(z.string()),
  }),
});

/** Every error code an HTTP function answers, with its status (README "Errors" lists when each happens). */
export const ERROR_CODES: Readonly<Record<string, number>> = {
  InvalidParameter: 400,
  UpstreamRejectedRequest: 400,
  RouteNotFound: 404,
  TaskNotFound: 404,
  LibraryNotConfigured: 404,
  LibraryNotFound: 404,
  SpaceNotFound: 404,
  TaskNotTracked: 404,
  TooManyWaiters: 409,
  NotConfigured: 500,
  SecretUnavailable: 500,
  SecretInvalid: 500,
  InternalError: 500,
  UpstreamAuthFailure: 502,
  UpstreamAccountUnavailable: 502,
  UpstreamMisconfigured: 502,
  UpstreamUnavailable: 502,
  UpstreamBadResponse: 502,
  UpstreamError: 502,
  UpstreamThrottled: 503,
  StoreUnavailable: 503,
  UpstreamTimeout: 504,
  DeadlineExceeded: 504,
};
