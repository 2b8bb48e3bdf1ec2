import { ValidationError } from './errors';
import type { LkeTaskQuery, SmhTaskQuery } from './task';

/**
 * Input checks shared by the HTTP and direct-invoke paths. Every rule is a shape check: a value that passes
 * can be sent upstream as-is and can never change a URL path, a query or a signed body in a way we did not
 * mean. Failures are ValidationError (HTTP 400) with a message that names the field and the rule.
 */

export interface FieldRule {
  pattern: RegExp;
  maxLength: number;
  /** Human description of the rule, used in the error message. */
  describe: string;
}

export const LKE_RULES = {
  taskId: { pattern: /^[A-Za-z0-9_-]+$/, maxLength: 64, describe: 'letters, digits, "_" or "-"' },
  taskType: { pattern: /^[A-Za-z0-9_]+$/, maxLength: 64, describe: 'letters, digits or "_"' },
  botBizId: { pattern: /^[0-9]+$/, maxLength: 20, describe: 'digits only (the application id)' },
} as const satisfies Record<keyof LkeTaskQuery, FieldRule>;

export const SMH_RULES = {
  libraryId: { pattern: /^[A-Za-z0-9_-]+$/, maxLength: 64, describe: 'letters, digits, "_" or "-"' },
  spaceId: {
    pattern: /^[A-Za-z0-9_-]+$/,
    maxLength: 64,
    describe: 'letters, digits, "_" or "-" ("-" for a single-tenant library)',
  },
  taskId: { pattern: /^[1-9][0-9]*$/, maxLength: 19, describe: 'a positive integer' },
  userId: { pattern: /^[A-Za-z0-9_.@:-]+$/, maxLength: 128, describe: 'letters, digits or "_.@:-"' },
} as const satisfies Record<string, FieldRule>;

/** At most this many task ids per call to our API (SMH calls are batched below URL limits). */
export const SMH_MAX_TASK_IDS = 100;

export function asRecord(
  input: unknown,
  what = 'The request body (or invoke payload)',
): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError(`${what} must be a JSON object`);
  }
  return input as Record<string, unknown>;
}

export function requireString(record: Record<string, unknown>, field: string, rule: FieldRule): string {
  const value = record[field];
  if (value === undefined || value === null) throw new ValidationError(`${field} is required`);
  // Numbers are accepted for id-like fields that JSON producers often send unquoted (e.g. "taskId": 8).
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string') throw new ValidationError(`${field} must be a string`);
  if (text.length === 0) throw new ValidationError(`${field} must not be empty`);
  if (text.length > rule.maxLength) {
    throw new ValidationError(`${field} must be at most ${rule.maxLength} characters`);
  }
  if (!rule.pattern.test(text)) throw new ValidationError(`${field} must contain ${rule.describe}`);
  return text;
}

/** Runs every field check and reports every failure at once ("taskType is required; botBizId is required"). */
function fields<T extends object>(checks: { [K in keyof T]: () => T[K] }): T {
  const out = {} as T;
  const problems: string[] = [];
  for (const key of Object.keys(checks) as (keyof T)[]) {
    try {
      out[key] = checks[key]();
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(error.message);
    }
  }
  if (problems.length > 0) throw new ValidationError(problems.join('; '));
  return out;
}

const UINT64_MAX = 18_446_744_073_709_551_615n;

export function parseLkeTaskQuery(input: unknown): LkeTaskQuery {
  const record = asRecord(input);
  return fields<LkeTaskQuery>({
    taskId: () => requireString(record, 'taskId', LKE_RULES.taskId),
    taskType: () => requireString(record, 'taskType', LKE_RULES.taskType),
    botBizId: () => {
      const botBizId = requireString(record, 'botBizId', LKE_RULES.botBizId);
      if (BigInt(botBizId) > UINT64_MAX) {
        throw new ValidationError(
          `botBizId must be at most ${UINT64_MAX} (an unsigned 64-bit application id)`,
        );
      }
      return botBizId;
    },
  });
}

function optionalString(record: Record<string, unknown>, field: string, rule: FieldRule): string | undefined {
  return record[field] === undefined || record[field] === null
    ? undefined
    : requireString(record, field, rule);
}

/**
 * `taskIds` as an array (direct invoke) or a comma-separated string (HTTP path): positive integers, 1 to 100,
 * duplicates dropped in order.
 */
export function parseSmhTaskIds(value: unknown): string[] {
  if (value === undefined || value === null) throw new ValidationError('taskIds is required');
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items))
    throw new ValidationError('taskIds must be an array of ids or a comma-separated string');
  if (items.length === 0) throw new ValidationError('taskIds must not be empty');
  if (items.length > SMH_MAX_TASK_IDS) {
    throw new ValidationError(`taskIds must hold at most ${SMH_MAX_TASK_IDS} ids, got ${items.length}`);
  }
  const ids = items.map((item, index) => {
    try {
      return requireString({ taskId: item }, 'taskId', SMH_RULES.taskId);
    } catch {
      throw new ValidationError(`taskIds[${index}] must be a positive integer (at most 19 digits)`);
    }
  });
  return [...new Set(ids)];
}

export function parseSmhTaskQuery(input: unknown): SmhTaskQuery {
  const record = asRecord(input);
  const { libraryId, taskIds, spaceId, userId } = fields<{
    libraryId: string;
    taskIds: string[];
    spaceId: string | undefined;
    userId: string | undefined;
  }>({
    libraryId: () => requireString(record, 'libraryId', SMH_RULES.libraryId),
    taskIds: () => parseSmhTaskIds(record.taskIds),
    spaceId: () => optionalString(record, 'spaceId', SMH_RULES.spaceId),
    userId: () => optionalString(record, 'userId', SMH_RULES.userId),
  });
  const query: SmhTaskQuery = { libraryId, taskIds };
  if (spaceId !== undefined) query.spaceId = spaceId;
  if (userId !== undefined) query.userId = userId;
  return query;
}

/** A boolean flag from a query string (`true`/`false`/`1`/`0`) or JSON; absent is false. */
export function parseFlag(record: Record<string, unknown>, field: string): boolean {
  const value = record[field];
  if (value === undefined || value === null || value === false || value === 'false' || value === '0')
    return false;
  if (value === true || value === 'true' || value === '1' || value === '') return true;
  throw new ValidationError(`${field} must be true or false`);
}

export const TRACKING_ID_PATTERN = /^(lke|smh)_[A-Za-z0-9_-]{24}$/;

export function parseTrackingId(input: unknown): string {
  const id = requireString(asRecord(input), 'id', {
    pattern: TRACKING_ID_PATTERN,
    maxLength: 28,
    describe: 'a tracking id (lke_… or smh_…)',
  });
  return id;
}

export const TRACKED_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'expired'] as const;

export function parseListQuery(input: unknown) {
  const record = asRecord(input);
  const oneOf = <T extends string>(field: string, allowed: readonly T[]): T | undefined => {
    const value = record[field];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' || !allowed.includes(value as T)) {
      throw new ValidationError(`${field} must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  };
  const query: {
    provider?: 'lke' | 'smh';
    status?: (typeof TRACKED_STATUSES)[number];
    limit?: number;
    nextToken?: string;
  } = {};
  const provider = oneOf('provider', ['lke', 'smh'] as const);
  if (provider) query.provider = provider;
  const status = oneOf('status', TRACKED_STATUSES);
  if (status) query.status = status;
  if (record.limit !== undefined && record.limit !== '') {
    // Digits only: "1e2", "0x10", " 7 ", true and [5] all convert to numbers, and none of them is a limit.
    const raw = record.limit;
    const limit =
      typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]{1,3}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new ValidationError('limit must be an integer from 1 to 100 (digits only)');
    query.limit = limit;
  }
  if (record.nextToken !== undefined && record.nextToken !== '') {
    query.nextToken = requireString(record, 'nextToken', {
      pattern: /^[A-Za-z0-9_-]+$/,
      maxLength: 2048,
      describe: 'a token from a previous page',
    });
  }
  return query;
}

/**
 * `notify` on a tracking request: `{"taskToken":"…","heartbeat"?:true}` from a Step Functions
 * `waitForTaskToken` step. Absent is null.
 */
export function parseNotify(
  record: Record<string, unknown>,
): { taskTokens: string[]; heartbeat: boolean } | null {
  if (record.notify === undefined || record.notify === null) return null;
  const notify = asRecord(record.notify, 'notify');
  if (typeof notify.taskToken !== 'string' && notify.taskToken !== undefined && notify.taskToken !== null) {
    throw new ValidationError('notify.taskToken must be a string (the Step Functions task token)');
  }
  const taskToken = requireString(notify, 'taskToken', {
    pattern: /^[\x21-\x7e]+$/,
    maxLength: 2048,
    describe: 'a Step Functions task token (printable ASCII, no spaces)',
  });
  const heartbeat = notify.heartbeat === undefined ? false : notify.heartbeat;
  if (typeof heartbeat !== 'boolean') throw new ValidationError('notify.heartbeat must be true or false');
  return { taskTokens: [taskToken], heartbeat };
}
