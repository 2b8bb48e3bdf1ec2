import * as z from 'zod/mini';

/**
 * The contract, written once: every input and output of the functions, HTTP and direct invoke alike, as zod
 * schemas (`zod/mini`: about 13 KB bundled, nothing measurable at cold start). The TypeScript types are inferred
 * from them, `lib/validate.ts` validates with them, and `npm run schemas` generates `schemas/*.json` and
 * `openapi.json` from them (`lib/contract-docs.ts`). Error messages are part of the contract: each names what a
 * field must be; `lib/validate.ts` prefixes the field.
 */

// ---------------------------------------------------------------------------------------------------------------
// Fields

const TEXT = (what = 'a string') =>
  z.string({ error: (issue) => (issue.input == null ? 'is required' : `must be ${what}`) });

/** A non-empty string of at most `max` characters matching `pattern`; `describe` completes "must contain …". */
function field(pattern: RegExp, max: number, describe: string) {
  return TEXT().check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(max, `must be at most ${max} characters`),
    z.regex(pattern, `must contain ${describe}`),
  );
}

/** Id-like fields may come unquoted from JSON producers (`"taskId": 8`): a non-negative safe integer counts. */
function idField<T extends z.ZodMiniType<string>>(text: T, minimum = 0) {
  const rule = `must be a string, or a whole number from ${minimum} to ${Number.MAX_SAFE_INTEGER}`;
  return z.union([text, z.int({ error: rule }).check(z.minimum(minimum, rule))], {
    error: (issue) => (issue.input == null ? 'is required' : 'must be a string'),
  });
}

export const LKE_TASK_ID = field(/^[A-Za-z0-9_-]+$/, 64, 'letters, digits, "_" or "-"');
export const LKE_TASK_TYPE = field(/^[A-Za-z0-9_]+$/, 64, 'letters, digits or "_"').check(
  z.describe('the task type given when the task was created, e.g. ModifyAttributeLabel, ExportQAList'),
);
export const LKE_BOT_BIZ_ID = field(/^[0-9]+$/, 20, 'digits only (the application id)').check(
  z.describe('the LKE application id (BotBizId), an unsigned 64-bit integer: send it as a string'),
);
export const SMH_LIBRARY_ID = field(/^[A-Za-z0-9_-]+$/, 64, 'letters, digits, "_" or "-"');
export const SMH_SPACE_ID = field(
  /^[A-Za-z0-9_-]+$/,
  64,
  'letters, digits, "_" or "-" ("-" for a single-tenant library)',
).check(z.describe('a space id, "-" for a single-tenant library; omitted for a library-level task'));
export const SMH_TASK_ID = field(/^[1-9][0-9]*$/, 19, 'a positive integer');
export const SMH_USER_ID = field(/^[A-Za-z0-9_.@:-]+$/, 128, 'letters, digits or "_.@:-"').check(
  z.describe('the user the access token is minted for (SMH user_id), when the library needs one'),
);
const SMH_ID_RULE = 'must be a positive integer (at most 19 digits)';
/** At most this many task ids per call to our API (SMH calls are batched below URL limits). */
export const SMH_MAX_TASK_IDS = 100;
/** As an array (direct invoke); the HTTP path's comma-separated string is split and checked as this. */
export const SMH_TASK_ID_ARRAY = z
  .array(
    z.union([SMH_TASK_ID, z.int({ error: SMH_ID_RULE }).check(z.minimum(1, SMH_ID_RULE))], {
      error: SMH_ID_RULE,
    }),
  )
  .check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(SMH_MAX_TASK_IDS, {
      error: (issue) => `must hold at most ${SMH_MAX_TASK_IDS} ids, got ${(issue.input as unknown[]).length}`,
    }),
  );
export const SMH_TASK_IDS = z
  .union([SMH_TASK_ID_ARRAY, z.string().check(z.describe('comma-separated ids (the HTTP path)'))], {
    error: (issue) =>
      issue.input == null ? 'is required' : 'must be an array of ids or a comma-separated string',
  })
  .check(z.describe(`1 to ${SMH_MAX_TASK_IDS} task ids (positive integers); duplicates are dropped`));

export const TRACKING_ID_PATTERN = /^(lke|smh)_[A-Za-z0-9_-]{24}$/;
export const TRACKING_ID = field(TRACKING_ID_PATTERN, 28, 'a tracking id (lke_… or smh_…)');
export const PROVIDERS = ['lke', 'smh'] as const;
export const TASK_STATUSES = ['pending', 'running', 'succeeded', 'failed'] as const;
export const TRACKED_STATUSES = [...TASK_STATUSES, 'expired'] as const;
const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });
/** A list filter: one of `values`, or empty (a query string's `?status=`) for none. */
const filterOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.union([oneOf(values), z.literal('')], { error: `must be one of ${values.join(', ')}` });

/** A yes/no flag: JSON true/false, or a query-string `true`/`false`/`1`/`0` (empty: yes). */
export const FLAG = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])], {
  error: 'must be true or false',
});
const TRACK = z.nullish(FLAG).check(z.describe('track the task from now on if it is not finished'));

export const NOTIFY = z.object(
  {
    taskToken: TEXT('a string (the Step Functions task token)').check(
      z.minLength(1, 'must not be empty'),
      z.maxLength(2048, 'must be at most 2048 characters'),
      z.regex(/^[\x21-\x7e]+$/, 'must contain a Step Functions task token (printable ASCII, no spaces)'),
      z.describe('$$.Task.Token of a waitForTaskToken step; never logged, stored only to call back'),
    ),
    heartbeat: z.optional(
      z
        .boolean({ error: 'must be true or false' })
        .check(z.describe('send SendTaskHeartbeat after each check')),
    ),
  },
  { error: 'must be a JSON object' },
);

// ---------------------------------------------------------------------------------------------------------------
// Inputs (direct invoke; the HTTP functions build the same object from path, query and body)

export const LKE_QUERY = z.object({
  taskId: idField(LKE_TASK_ID),
  taskType: LKE_TASK_TYPE,
  botBizId: idField(LKE_BOT_BIZ_ID),
});
export const LKE_STATUS_INPUT = z.extend(LKE_QUERY, { track: TRACK });
export const TRACK_LKE_INPUT = z.extend(LKE_QUERY, { notify: z.nullish(NOTIFY) });

export const SMH_QUERY = z.object({
  libraryId: SMH_LIBRARY_ID,
  spaceId: z.nullish(SMH_SPACE_ID),
  taskIds: SMH_TASK_IDS,
  userId: z.nullish(SMH_USER_ID),
});
export const SMH_STATUS_INPUT = z.extend(SMH_QUERY, { track: TRACK });
export const TRACK_SMH_INPUT = z.extend(SMH_QUERY, { notify: z.nullish(NOTIFY) });

export const GET_TASK_INPUT = z.object({ id: TRACKING_ID });
const LIMIT_RULE = 'must be an integer from 1 to 100 (digits only)';
export const LIST_LIMIT = z.union(
  [
    z.int(LIMIT_RULE).check(z.minimum(1, LIMIT_RULE), z.maximum(100, LIMIT_RULE)),
    z.string().check(z.regex(/^(|[0-9]{1,3})$/, LIMIT_RULE)),
  ],
  { error: LIMIT_RULE },
);
export const LIST_TASKS_INPUT = z.object({
  provider: z.optional(filterOf(PROVIDERS)),
  status: z.optional(filterOf(TRACKED_STATUSES)),
  limit: z.nullish(LIST_LIMIT.check(z.describe('page size, 1 to 100 (default 25)'))),
  nextToken: z.nullish(
    field(/^[A-Za-z0-9_-]*$/, 2048, 'a token from a previous page').check(
      z.describe('nextToken of the previous page'),
    ),
  ),
});

// ---------------------------------------------------------------------------------------------------------------
// Outputs

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
  })
  .check(
    z.describe(
      'the result was too large for the table (400 KB) and was cut: an array keeps its leading items, an object the keys that fit',
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
      'detail-type is Task Status Changed for every status change, plus Task Succeeded / Task Failed / Task Expired for terminal ones. eventId is stable across redeliveries: de-duplicate on it.',
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

// ---------------------------------------------------------------------------------------------------------------
// Types

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TrackedStatus = (typeof TRACKED_STATUSES)[number];
export type TaskResult = z.infer<typeof RESULT>;
export type ResultCut = z.infer<typeof RESULT_CUT>;
type Tracking = 'trackingId' | 'trackingError';
export type LkeTaskStatus = Omit<z.infer<typeof LKE_TASK>, Tracking>;
export type SmhTaskStatus = Omit<z.infer<typeof SMH_TASK>, Tracking>;
export type LkeTaskQuery = Pick<LkeTaskStatus, 'taskId' | 'taskType' | 'botBizId'>;
/** `spaceId` absent for a library-level task (history clearing). */
export type SmhTaskQuery = Pick<SmhTaskStatus, 'libraryId'> & {
  spaceId?: string;
  taskIds: SmhTaskStatus['taskId'][];
  userId?: string;
};
export type PublicTask = z.infer<typeof TRACKED_TASK>;
export type TaskEventDetail = z.infer<typeof TASK_EVENT>;
export type PollSummary = z.infer<typeof POLL_SUMMARY>;
export type ErrorBody = z.infer<typeof ERROR_BODY>;
