import * as z from 'zod/mini';
import type {
  ERROR_BODY,
  LKE_TASK,
  POLL_SUMMARY,
  RESULT,
  RESULT_CUT,
  SMH_TASK,
  TASK_EVENT,
  TRACKED_TASK,
} from './contract-outputs';

/**
 * The contract, written once: every input and output of the functions, HTTP and direct invoke alike, as zod
 * schemas (`zod/mini`: about 13 KB bundled, nothing measurable at cold start). The TypeScript types are inferred
 * from them, `lib/validate.ts` validates with them, and `npm run schemas` generates `schemas/*.json` and
 * `openapi.json` from them (`lib/contract-docs.ts`). Error messages are part of the contract: each names what a
 * field must be; `lib/validate.ts` prefixes the field.
 *
 * This file holds what the functions check at run time (fields and inputs) and every type. The answers' schemas
 * are in `lib/contract-outputs.ts`: documentation and tests load them, a function never does (building them took
 * ~5 ms of every cold start). Runtime code may import types from there, never values.
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
export const TRACKED_STATUSES = [...TASK_STATUSES, 'expired', 'untracked'] as const;
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

export const NOTIFY = z.strictObject(
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
export const UNTRACK_TASK_INPUT = z.object({ id: TRACKING_ID });
const LIMIT_RULE = 'must be an integer from 1 to 100 (digits only)';
export const LIST_LIMIT = z.union(
  [
    z.int(LIMIT_RULE).check(z.minimum(1, LIMIT_RULE), z.maximum(100, LIMIT_RULE)),
    z.string().check(z.regex(/^(|[0-9]{1,3})$/, LIMIT_RULE)),
  ],
  { error: LIMIT_RULE },
);
/** The upstream identity as list filters (lib/validate.ts `parseListQuery` checks how they combine). */
export const LIST_FILTERS = {
  botBizId: z.nullish(idField(LKE_BOT_BIZ_ID)),
  taskType: z.nullish(LKE_TASK_TYPE),
  libraryId: z.nullish(SMH_LIBRARY_ID),
  spaceId: z.nullish(SMH_SPACE_ID),
  taskId: z.nullish(
    idField(LKE_TASK_ID).check(
      z.describe('with botBizId (and taskType) or libraryId (and spaceId): the upstream task id'),
    ),
  ),
};
export const LIST_TASKS_INPUT = z.object({
  provider: z.optional(filterOf(PROVIDERS)),
  status: z.optional(filterOf(TRACKED_STATUSES)),
  ...LIST_FILTERS,
  limit: z.nullish(LIST_LIMIT.check(z.describe('page size, 1 to 100 (default 25)'))),
  nextToken: z.nullish(
    field(/^[A-Za-z0-9_-]*$/, 2048, 'a token from a previous page').check(
      z.describe('nextToken of the previous page'),
    ),
  ),
});

/**
 * The query string parameters of the HTTP routes that take any: the input's fields but those in the path. Any
 * other parameter is refused (functions/common/handler.ts); lib/contract-docs.ts documents the same (a test
 * compares them).
 */
export const QUERY_PARAMS = {
  lkeStatus: Object.keys(LKE_STATUS_INPUT.shape).filter((key) => key !== 'taskId'),
  smhStatus: Object.keys(SMH_STATUS_INPUT.shape).filter(
    (key) => !['libraryId', 'spaceId', 'taskIds'].includes(key),
  ),
  listTasks: Object.keys(LIST_TASKS_INPUT.shape),
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Types

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TrackedStatus = (typeof TRACKED_STATUSES)[number];
/**
 * A result as the upstream sent it (`unknown` inside). Its numbers are plain `number`s, or `ExactNumber`s
 * (lib/json.ts) where a double would not keep them (integers beyond 2^53, long decimals): write it with
 * `stringifyJson` (or `JSON.stringify` on Node 22, see ExactNumber's `toJSON`), store it with the table client.
 */
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
