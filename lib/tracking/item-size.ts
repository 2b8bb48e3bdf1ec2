import { DYNAMODB_NUMBERS, MAX_NESTING } from '../aws/attribute-values';
import { ExactNumber, numberParts } from '../json';
import type { TaskResult } from '../task';
import type { ResultCut } from './model';

/**
 * DynamoDB's item size, by its documented rules ("Item sizes and formats"): an attribute is its name's UTF-8
 * bytes plus its value; a string is its UTF-8 bytes; a number about one byte per two significant digits plus
 * one; null and booleans one byte; a list or map 3 bytes plus, per element, 1 byte (and a map's key bytes) plus
 * the element. An item may hold at most 400 KB (409,600 bytes).
 */
export const DYNAMODB_ITEM_LIMIT = 400 * 1024;
/** What we allow ourselves: the limit less a margin for rounding in the rules above. */
export const MAX_ITEM_BYTES = DYNAMODB_ITEM_LIMIT - 2 * 1024;

export const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8');

function numberSize(value: number): number {
  if (value === 0) return 1;
  const digits = Math.abs(value).toExponential().replace(/e.*$/, '').replace('.', '').replace(/0+$/, '');
  return Math.ceil(digits.length / 2) + 1 + (value < 0 ? 1 : 0);
}

/** The same rule for a number a double does not keep (lib/json.ts), by its own significant digits. */
function exactNumberSize(value: ExactNumber): number {
  const { negative, digits } = numberParts(value.value);
  if (digits === '0') return 1;
  return Math.ceil(digits.length / 2) + 1 + (negative ? 1 : 0);
}

/** Size of one attribute value as DynamoDB counts it (0 for `undefined`, which is not stored). */
export function valueSize(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8Bytes(value);
  if (typeof value === 'number') return numberSize(value);
  if (value instanceof ExactNumber) return exactNumberSize(value);
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, item) => sum + 1 + valueSize(item), 0);
  if (typeof value === 'object') {
    let size = 3;
    for (const [key, item] of Object.entries(value as Record<string, unknown>))
      if (item !== undefined) size += 1 + utf8Bytes(key) + valueSize(item);
    return size;
  }
  return utf8Bytes(String(value));
}

export function itemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item))
    if (value !== undefined) size += utf8Bytes(name) + valueSize(value);
  return size;
}

/**
 * The largest part of `result` that fits in `budget` bytes, and how it was cut:
 * - an array keeps its leading items (SMH batch results keep their order);
 * - an object keeps the top-level keys that fit, in order, and names the ones it dropped;
 * - anything else that does not fit becomes null.
 */
export function cutResult(result: TaskResult, budget: number): { result: TaskResult; cut: ResultCut } {
  const originalBytes = valueSize(result);
  if (Array.isArray(result)) {
    let size = 3;
    let kept = 0;
    for (const item of result) {
      const next = size + 1 + valueSize(item);
      if (next > budget) break;
      size = next;
      kept++;
    }
    const cutArray = result.slice(0, kept);
    return {
      result: cutArray,
      cut: { originalBytes, storedBytes: size, totalItems: result.length, keptItems: kept },
    };
  }
  if (result !== null && typeof result === 'object') {
    const kept: Record<string, unknown> = {};
    const droppedKeys: string[] = [];
    let size = 3;
    for (const [key, item] of Object.entries(result)) {
      const next = size + 1 + utf8Bytes(key) + valueSize(item);
      if (next > budget) droppedKeys.push(key);
      else {
        kept[key] = item;
        size = next;
      }
    }
    return {
      result: kept,
      cut: {
        originalBytes,
        storedBytes: size,
        droppedKeys: droppedKeys.slice(0, 20).map((k) => k.slice(0, 64)),
      },
    };
  }
  return { result: null, cut: { originalBytes, storedBytes: 1 } };
}

/**
 * What in a result DynamoDB could never store, by its rules: a number beyond 38 significant digits or outside
 * 1E-130 … 9.99…E+125 in magnitude (or not finite), lists and maps nested deeper than 32 levels (the attribute's
 * own being level 1). Answers the first such value's path and why, or undefined. Cutting cannot help there: the
 * store leaves the result out and says why (lib/tracking/store.ts `toItem`).
 */
export function unstorable(value: unknown, path = 'result', level = 1): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `${path}: ${value} is not a number DynamoDB can store`;
    const magnitude = Math.abs(value);
    return magnitude !== 0 && (magnitude >= 1e126 || magnitude < 1e-130)
      ? `${path}: ${value} is beyond what DynamoDB can store (1E-130 to 9.99…E+125 in magnitude)`
      : undefined;
  }
  if (value instanceof ExactNumber) {
    const { digits, exponent } = numberParts(value.value);
    if (digits === '0') return undefined;
    if (exponent > DYNAMODB_NUMBERS.maxExponent || exponent < DYNAMODB_NUMBERS.minExponent)
      return `${path}: ${value.value.slice(0, 60)} is beyond what DynamoDB can store (1E-130 to 9.99…E+125 in magnitude)`;
    if (digits.length > DYNAMODB_NUMBERS.maxDigits)
      return `${path}: ${value.value.slice(0, 60)} has ${digits.length} significant digits, more than the ${DYNAMODB_NUMBERS.maxDigits} DynamoDB can store`;
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (level > MAX_NESTING) return `${path}: nested more than the ${MAX_NESTING} levels DynamoDB allows`;
  const entries = Array.isArray(value)
    ? value.map((item, n) => [`${path}[${n}]`, item] as const)
    : Object.entries(value as Record<string, unknown>).map(
        ([key, item]) => [`${path}.${key}`, item] as const,
      );
  for (const [where, item] of entries) {
    const found = unstorable(item, where, level + 1);
    if (found) return found;
  }
  return undefined;
}
