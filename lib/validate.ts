import type * as z from 'zod/mini';
import {
  FLAG,
  GET_TASK_INPUT,
  LIST_TASKS_INPUT,
  LKE_QUERY,
  NOTIFY,
  SMH_QUERY,
  SMH_TASK_ID,
  SMH_TASK_ID_ARRAY,
  SMH_TASK_IDS,
  type LkeTaskQuery,
  type SmhTaskQuery,
  type TrackedStatus,
} from './contract';
import { ValidationError } from './errors';

export { SMH_MAX_TASK_IDS, TRACKED_STATUSES, TRACKING_ID_PATTERN } from './contract';

/**
 * Input checks shared by the HTTP and direct-invoke paths, all by the schemas of `lib/contract.ts`. Every rule
 * is a shape check: a value that passes can be sent upstream as-is and can never change a URL path, a query or
 * a signed body in a way we did not mean. Failures are ValidationError (HTTP 400) with one message naming every
 * field that is wrong and what it must be ("taskType is required; botBizId must contain digits only …").
 */

export function asRecord(
  input: unknown,
  what = 'The request body (or invoke payload)',
): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError(`${what} must be a JSON object`);
  }
  return input as Record<string, unknown>;
}

/** `taskIds[3]`, `notify.taskToken`. */
function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i > 0 ? '.' : ''}${String(key)}`))
    .join('');
}

/** Validates `input` with `schema`; every failing field is reported once, in the schema's order. */
function check<S extends z.ZodMiniType>(
  schema: S,
  input: unknown,
  prefix: readonly PropertyKey[] = [],
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = new Map<string, string>();
  for (const issue of parsed.error.issues) {
    const name = fieldName([...prefix, ...issue.path]);
    if (!problems.has(name)) problems.set(name, `${name} ${issue.message}`);
  }
  throw new ValidationError([...problems.values()].join('; '));
}

const UINT64_MAX = 18_446_744_073_709_551_615n;

export function parseLkeTaskQuery(input: unknown): LkeTaskQuery {
  const record = asRecord(input);
  refuseMisnamed(record, 'taskId', 'taskIds', 'LKE takes one task: "taskId": "8"');
  const { taskId, taskType, botBizId } = check(LKE_QUERY, record);
  if (BigInt(botBizId) > UINT64_MAX) {
    throw new ValidationError(`botBizId must be at most ${UINT64_MAX} (an unsigned 64-bit application id)`);
  }
  return { taskId: String(taskId), taskType, botBizId: String(botBizId) };
}

/** Ids as strings, duplicates dropped in order; a string is the HTTP path's comma-separated list. */
function taskIdList(value: z.output<typeof SMH_TASK_IDS>): string[] {
  const ids = typeof value === 'string' ? check(SMH_TASK_ID_ARRAY, value.split(','), ['taskIds']) : value;
  return [...new Set(ids.map(String))];
}

/**
 * `taskIds` as an array (direct invoke) or a comma-separated string (HTTP path): positive integers, 1 to 100,
 * duplicates dropped in order.
 */
export function parseSmhTaskIds(value: unknown): string[] {
  return taskIdList(check(SMH_TASK_IDS, value, ['taskIds']));
}

/** A field sent under the other API's name (`taskId` for SMH's list, `taskIds` for LKE's one id) says so. */
function refuseMisnamed(record: Record<string, unknown>, expected: string, given: string, hint: string) {
  if (record[expected] == null && record[given] != null) {
    throw new ValidationError(`${expected} is required (${hint}); this API has no ${given}`);
  }
}

export function parseSmhTaskQuery(input: unknown): SmhTaskQuery {
  const record = asRecord(input);
  refuseMisnamed(record, 'taskIds', 'taskId', 'SMH takes a list: "taskIds": ["1"]');
  const { libraryId, spaceId, taskIds, userId } = check(SMH_QUERY, record);
  const query: SmhTaskQuery = { libraryId, taskIds: taskIdList(taskIds) };
  if (spaceId != null) query.spaceId = spaceId;
  if (userId != null) query.userId = userId;
  return query;
}

/** A boolean flag from a query string (`true`/`false`/`1`/`0`) or JSON; absent is false. */
export function parseFlag(record: Record<string, unknown>, field: string): boolean {
  if (record[field] == null) return false;
  const value = check(FLAG, record[field], [field]);
  return value === true || value === 'true' || value === '1' || value === '';
}

export function parseTrackingId(input: unknown): string {
  return check(GET_TASK_INPUT, asRecord(input)).id;
}

export function parseListQuery(input: unknown): {
  provider?: 'lke' | 'smh';
  status?: TrackedStatus;
  identity?: IdentityFilter;
  limit?: number;
  nextToken?: string;
} {
  const { provider, status, limit, nextToken, ...filters } = check(LIST_TASKS_INPUT, asRecord(input));
  const identity = identityFilter(provider || undefined, filters);
  return {
    ...(provider ? { provider } : {}),
    ...(status ? { status } : {}),
    ...(identity ? { identity } : {}),
    ...(limit != null && limit !== '' ? { limit: checkLimit(Number(limit)) } : {}),
    ...(nextToken ? { nextToken } : {}),
  };
}

/**
 * A filter on the upstream identity: an LKE application, and within it a task type and a task id; an SMH
 * library, and within it a space and a task id. A task id without what comes before it (`taskType`, `spaceId`)
 * is matched too, by a filter on the index (lib/tracking/store.ts `list`).
 */
export type IdentityFilter =
  | { provider: 'lke'; botBizId: string; taskType?: string; taskId?: string }
  | { provider: 'smh'; libraryId: string; spaceId?: string; taskId?: string };

/**
 * The identity filters of a listing, as they combine: LKE's (`botBizId`, then `taskType`, `taskId`) with
 * `provider=lke`, SMH's (`libraryId`, then `spaceId`, `taskId`) with `provider=smh`; the scope (`botBizId`,
 * `libraryId`) first. Each refusal names the field and what it needs.
 */
function identityFilter(
  provider: 'lke' | 'smh' | undefined,
  given: Record<string, string | number | null | undefined>,
): IdentityFilter | undefined {
  const present = (name: string) => given[name] != null && given[name] !== '';
  const text = (name: string) => (present(name) ? String(given[name]) : undefined);
  const lke = ['botBizId', 'taskType'].filter(present);
  const smh = ['libraryId', 'spaceId'].filter(present);
  if (lke.length === 0 && smh.length === 0) {
    if (present('taskId'))
      throw new ValidationError(
        'taskId needs its scope: provider=lke&botBizId=… or provider=smh&libraryId=…',
      );
    return undefined;
  }
  if (lke.length > 0 && smh.length > 0)
    throw new ValidationError(`${lke[0]} (LKE) and ${smh[0]} (SMH) cannot be combined: filter one provider`);
  const wanted = lke.length > 0 ? 'lke' : 'smh';
  const first = (lke.length > 0 ? lke : smh)[0] as string;
  if (provider !== wanted)
    throw new ValidationError(`${first} filters ${wanted.toUpperCase()} tasks: add provider=${wanted}`);
  if (wanted === 'lke') {
    const botBizId = text('botBizId');
    if (botBizId === undefined)
      throw new ValidationError(`${first} needs botBizId (the application it belongs to)`);
    if (BigInt(botBizId) > UINT64_MAX)
      throw new ValidationError(`botBizId must be at most ${UINT64_MAX} (an unsigned 64-bit application id)`);
    const taskType = text('taskType');
    const taskId = text('taskId');
    return { provider: 'lke', botBizId, ...(taskType ? { taskType } : {}), ...(taskId ? { taskId } : {}) };
  }
  const libraryId = text('libraryId');
  if (libraryId === undefined)
    throw new ValidationError(`${first} needs libraryId (the library it belongs to)`);
  const spaceId = text('spaceId');
  const taskId = text('taskId');
  if (taskId !== undefined) check(SMH_TASK_ID, taskId, ['taskId']);
  return { provider: 'smh', libraryId, ...(spaceId ? { spaceId } : {}), ...(taskId ? { taskId } : {}) };
}

function checkLimit(limit: number): number {
  if (limit < 1 || limit > 100)
    throw new ValidationError('limit must be an integer from 1 to 100 (digits only)');
  return limit;
}

/**
 * `notify` on a tracking request: `{"taskToken":"…","heartbeat"?:true}` from a Step Functions
 * `waitForTaskToken` step. Absent is null.
 */
export function parseNotify(
  record: Record<string, unknown>,
): { taskTokens: string[]; heartbeat: boolean } | null {
  // A waiter given in the wrong place would be tracked without it, and its execution would wait until its own
  // timeout: without notify, what can only be a misplaced or misspelt one is refused. Other extra fields pass
  // (a state machine may pass its whole input, a parent's TaskToken field included, beside its notify).
  for (const key of record.notify == null ? Object.keys(record) : []) {
    const lower = key.toLowerCase();
    if (lower === 'tasktoken' || lower === 'heartbeat')
      throw new ValidationError(
        `${key} belongs under notify: {"notify":{"taskToken":"…","heartbeat"?:true}} (nothing was tracked)`,
      );
    if (lower === 'notify' && key !== 'notify')
      throw new ValidationError(`${key} is spelt notify: {"notify":{"taskToken":"…"}} (nothing was tracked)`);
  }
  if (record.notify == null) return null;
  const fields = typeof record.notify === 'object' && !Array.isArray(record.notify) ? record.notify : {};
  const unknown = Object.keys(fields).filter((key) => key !== 'taskToken' && key !== 'heartbeat');
  if (unknown.length > 0)
    throw new ValidationError(
      `${unknown.map((key) => `notify.${key}`).join(', ')}: notify takes taskToken and heartbeat only (nothing was tracked)`,
    );
  const { taskToken, heartbeat } = check(NOTIFY, record.notify, ['notify']);
  return { taskTokens: [taskToken], heartbeat: heartbeat ?? false };
}
