import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ExactNumber, numberParts, toNumber } from '../json';
import { DynamoDbError } from './dynamodb';

/**
 * Plain values ⇄ DynamoDB attribute values, for the table's own client (lib/aws/dynamodb.ts), in place of
 * `@aws-sdk/util-dynamodb`, which refuses any JS number above 2^53 and knows nothing of `ExactNumber`.
 *
 * - strings → S, numbers → N (`String(n)`, as util-dynamodb writes them), bigints and ExactNumbers → N (their
 *   digits), booleans → BOOL, null → NULL, arrays → L, plain objects → M; `undefined` values are left out, as
 *   util-dynamodb's `removeUndefinedValues` does. For those values the output is util-dynamodb's, to the byte
 *   (test/unit/attribute-values.test.ts compares them).
 * - Anything else (Sets, Maps, binary, Dates, functions, other class instances) is refused: the store never
 *   writes them, and a silent conversion would not read back the same.
 * - What DynamoDB could never store is refused before a request is sent, as the `ValidationException` DynamoDB
 *   would answer (never retried), naming the attribute path: a number with more than 38 significant digits, or
 *   beyond 1E-130 … 9.9999999999999999999999999999999999999E+125 in magnitude, NaN and ±Infinity, and lists
 *   or maps nested more than 32 levels deep (an attribute's own list or map is level 1).
 * - An N read back is a plain number when a double keeps it exactly (the rule of `parseJson`), else an
 *   ExactNumber with DynamoDB's digits (DynamoDB writes numbers in plain decimal: `1.5e30` comes back as
 *   `1500000000000000000000000000000`, the same number).
 */

export const DYNAMODB_NUMBERS = { maxDigits: 38, maxExponent: 125, minExponent: -130 } as const;
export const MAX_NESTING = 32;

/** What an item or a key is, in plain values. */
export type PlainItem = Record<string, unknown>;

export function marshallItem(item: PlainItem): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const name of Object.keys(item)) {
    const value = item[name];
    if (value !== undefined) out[name] = marshallValue(value, name, 1);
  }
  return out;
}

/** One value at `path`; `level` is how deep a list or map here would be. */
export function marshallValue(value: unknown, path: string, level = 1): AttributeValue {
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'boolean':
      return { BOOL: value };
    case 'number':
      return { N: numberText(value, path) };
    case 'bigint':
      return { N: checkedNumber(value.toString(), path) };
    case 'object':
      break;
    case 'undefined':
      throw refused(path, 'undefined cannot be stored');
    default:
      throw refused(path, `a ${typeof value} cannot be stored`);
  }
  if (value === null) return { NULL: true };
  if (value instanceof ExactNumber) return { N: checkedNumber(value.value, path) };
  if (Array.isArray(value)) {
    if (level > MAX_NESTING) throw tooDeep(path);
    const list: AttributeValue[] = [];
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== undefined) list.push(marshallValue(item, `${path}[${i}]`, level + 1));
    }
    return { L: list };
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype === Object.prototype || prototype === null) {
    if (level > MAX_NESTING) throw tooDeep(path);
    const map: Record<string, AttributeValue> = {};
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const item = record[key];
      if (item !== undefined) setMember(map, key, marshallValue(item, memberPath(path, key), level + 1));
    }
    return { M: map };
  }
  const kind = (value as { constructor?: { name?: string } }).constructor?.name || 'class instance';
  throw refused(
    path,
    `a ${kind} cannot be stored (only strings, numbers, booleans, null, arrays and plain objects)`,
  );
}

export function unmarshallItem(item: Record<string, AttributeValue>): PlainItem {
  const out: PlainItem = {};
  for (const name of Object.keys(item)) out[name] = unmarshallValue(item[name] as AttributeValue, name);
  return out;
}

export function unmarshallValue(value: AttributeValue, path = ''): unknown {
  const wire = value as unknown as Record<string, unknown>;
  if (typeof wire.S === 'string') return wire.S;
  if (typeof wire.N === 'string') return toNumber(wire.N);
  if (typeof wire.BOOL === 'boolean') return wire.BOOL;
  if (wire.NULL === true) return null;
  if (Array.isArray(wire.L))
    return wire.L.map((item, i) => unmarshallValue(item as AttributeValue, `${path}[${i}]`));
  if (wire.M !== null && typeof wire.M === 'object') {
    const map: PlainItem = {};
    const members = wire.M as Record<string, AttributeValue>;
    for (const key of Object.keys(members))
      setMember(map, key, unmarshallValue(members[key] as AttributeValue, memberPath(path, key)));
    return map;
  }
  const type = Object.keys(wire).find((key) => wire[key] !== undefined) ?? 'none';
  throw new TypeError(
    `${path}: DynamoDB answered an attribute value of type ${type}, which this client does not read`,
  );
}

/** A JS number as DynamoDB gets it (util-dynamodb's `String(n)`), refused when DynamoDB could not hold it. */
function numberText(value: number, path: string): string {
  if (!Number.isFinite(value)) throw refused(path, `${value} is not a number DynamoDB can store`);
  const text = String(value);
  // Doubles have at most 17 significant digits: only the range can be out of bounds.
  const magnitude = Math.abs(value);
  return magnitude !== 0 && (magnitude >= 1e125 || magnitude < 1e-129) ? checkedNumber(text, path) : text;
}

/** `text` (a JSON number) when DynamoDB can store it: 38 significant digits, 1E-130 … 9.99…E+125. */
function checkedNumber(text: string, path: string): string {
  const { digits, exponent } = numberParts(text);
  if (digits === '0') return text;
  if (exponent > DYNAMODB_NUMBERS.maxExponent || exponent < DYNAMODB_NUMBERS.minExponent) {
    throw refused(
      path,
      `${clip(text)} is beyond what DynamoDB can store (1E-130 to 9.99…E+125 in magnitude)`,
    );
  }
  if (digits.length > DYNAMODB_NUMBERS.maxDigits) {
    throw refused(
      path,
      `${clip(text)} has ${digits.length} significant digits, more than the ${DYNAMODB_NUMBERS.maxDigits} DynamoDB can store`,
    );
  }
  return text;
}

function tooDeep(path: string): DynamoDbError {
  return refused(path, `lists and maps are nested more than the ${MAX_NESTING} levels DynamoDB allows`);
}

/** DynamoDB's own name for a request it would refuse; never retried. */
function refused(path: string, what: string): DynamoDbError {
  return new DynamoDbError('ValidationException', `${path}: ${what}`, undefined, false);
}

/** `map[key] = value`, a `__proto__` key included (an own key, as JSON.parse makes it, not the prototype). */
function setMember(map: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
  } else map[key] = value;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function memberPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(clip(key))}]`;
}

/** Long numbers and keys in messages: their first 40 characters and how long they were. */
function clip(text: string): string {
  return text.length <= 48 ? text : `${text.slice(0, 40)}…(${text.length} characters)`;
}
