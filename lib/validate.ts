import { ValidationError } from './errors';
import type { LkeTaskQuery } from './task';

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

export function asRecord(input: unknown, what = 'input'): Record<string, unknown> {
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

export function parseLkeTaskQuery(input: unknown): LkeTaskQuery {
  const record = asRecord(input);
  return {
    taskId: requireString(record, 'taskId', LKE_RULES.taskId),
    taskType: requireString(record, 'taskType', LKE_RULES.taskType),
    botBizId: requireString(record, 'botBizId', LKE_RULES.botBizId),
  };
}
