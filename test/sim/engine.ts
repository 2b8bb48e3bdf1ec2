import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * An in-memory DynamoDB for the simulation, speaking the wire protocol (AWS JSON 1.0 bodies with attribute
 * values), so that the table's real client (marshalling, retries, error names) runs in front of it. It keeps the
 * rules the store relies on and AWS enforces:
 *
 * - conditional Put / Update with the expression grammar the store uses (comparisons, BETWEEN, AND / OR / NOT,
 *   attribute_exists / attribute_not_exists / begins_with);
 * - global secondary indexes that are sparse and **eventually consistent**: an index sees a write only after
 *   `indexLagMs()` (so a claim can read a stale copy, as on AWS);
 * - Query pages: `Limit`, 1 MB of data, `ExclusiveStartKey`, `LastEvaluatedKey` whenever a page stopped early
 *   (as DynamoDB does, even when nothing follows);
 * - an item of at most 400 KB (DynamoDB's size rules), 32 levels of nesting, numbers of at most 38 significant
 *   digits between 1E-130 and 1E+126: anything else is a `ValidationException`.
 *
 * `test/sim/engine.test.ts` runs the same random operations against this engine and dynalite and compares them.
 */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> }
  | { SS: string[] }
  | { NS: string[] }
  | { B: string };
export type Item = Record<string, AttributeValue>;

export class EngineError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

const ITEM_LIMIT = 400 * 1024;
const PAGE_LIMIT = 1024 * 1024;
const MAX_DEPTH = 32;

interface IndexDef {
  name: string;
  hash: string;
  range?: string;
  types: Record<string, string>;
}

export interface EngineOptions {
  /** How long after a write its indexes see it (ms); 0 = at once. */
  indexLagMs?: () => number;
  now?: () => number;
  /** Told of every write as it applies: the item before and after (undefined: absent). */
  onWrite?: (id: string, before: Item | undefined, after: Item | undefined) => void;
}

export class TableEngine {
  readonly name: string;
  private readonly hashKey: string;
  private readonly items = new Map<string, Item>();
  private readonly indexes: IndexDef[];
  /** Per index: what it shows of each item (a copy, possibly stale), and writes not yet visible to it. */
  private readonly views = new Map<string, Map<string, Item>>();
  private readonly pending: { at: number; seq: number; id: string; item: Item | undefined }[] = [];
  private seq = 0;
  private readonly lag: () => number;
  private readonly now: () => number;
  private readonly onWrite?: EngineOptions['onWrite'];

  constructor(input: CreateTableCommandInput, options: EngineOptions = {}) {
    this.name = input.TableName as string;
    this.hashKey = input.KeySchema?.[0]?.AttributeName as string;
    const types = Object.fromEntries(
      (input.AttributeDefinitions ?? []).map((d) => [d.AttributeName as string, d.AttributeType as string]),
    );
    this.indexes = (input.GlobalSecondaryIndexes ?? []).map((gsi) => ({
      name: gsi.IndexName as string,
      hash: gsi.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName as string,
      range: gsi.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName,
      types,
    }));
    for (const index of this.indexes) this.views.set(index.name, new Map());
    this.lag = options.indexLagMs ?? (() => 0);
    this.now = options.now ?? (() => Date.now());
    this.onWrite = options.onWrite;
  }

  /** Every item as stored now (for invariants), keyed by the hash key's string value. */
  snapshot(): Map<string, Item> {
    return new Map([...this.items].map(([id, item]) => [id, structuredClone(item)]));
  }

  /** One item as stored now (a copy), or undefined. */
  snapshotOf(id: string): Item | undefined {
    const item = this.items.get(id);
    return item && structuredClone(item);
  }

  /** Handles one request body; answers the response body, or throws EngineError. */
  handle(operation: string, body: Record<string, unknown>): Record<string, unknown> {
    if (body.TableName !== this.name)
      throw new EngineError('ResourceNotFoundException', 'Requested resource not found');
    checkUnused(body);
    switch (operation) {
      case 'GetItem':
        return this.getItem(body);
      case 'PutItem':
        return this.putItem(body);
      case 'UpdateItem':
        return this.updateItem(body);
      case 'DeleteItem':
        return this.deleteItem(body);
      case 'Query':
        return this.query(body);
      default:
        throw new EngineError('UnknownOperationException', `Unknown operation ${operation}`);
    }
  }

  private keyOf(key: unknown): string {
    const value = (key as Item | undefined)?.[this.hashKey];
    if (!value || !('S' in value))
      throw new EngineError('ValidationException', 'The provided key element does not match the schema');
    return value.S;
  }

  private getItem(body: Record<string, unknown>) {
    // Stored items are never changed in place (an update writes a copy): no need to copy them out.
    const item = this.items.get(this.keyOf(body.Key));
    return item ? { Item: item } : {};
  }

  private putItem(body: Record<string, unknown>) {
    const item = body.Item as Item;
    const id = this.keyOf(item);
    const current = this.items.get(id);
    this.check(body, current);
    this.validate(item);
    this.store(id, item);
    return {};
  }

  private deleteItem(body: Record<string, unknown>) {
    const id = this.keyOf(body.Key);
    const current = this.items.get(id);
    this.check(body, current);
    this.store(id, undefined);
    return {};
  }

  private updateItem(body: Record<string, unknown>) {
    const id = this.keyOf(body.Key);
    const current = this.items.get(id);
    this.check(body, current);
    const next: Item = structuredClone(current ?? (body.Key as Item));
    const names = (body.ExpressionAttributeNames ?? {}) as Record<string, string>;
    const values = (body.ExpressionAttributeValues ?? {}) as Item;
    applyUpdate(String(body.UpdateExpression ?? ''), next, names, values);
    this.validate(next);
    this.store(id, next);
    const returns = body.ReturnValues;
    if (returns === 'ALL_NEW') return { Attributes: next };
    if (returns === 'UPDATED_NEW') {
      const updated = updatedNames(String(body.UpdateExpression ?? ''), names);
      return { Attributes: Object.fromEntries(updated.filter((n) => n in next).map((n) => [n, next[n]])) };
    }
    return {};
  }

  private check(body: Record<string, unknown>, current: Item | undefined) {
    const expression = body.ConditionExpression as string | undefined;
    if (!expression) return;
    const names = (body.ExpressionAttributeNames ?? {}) as Record<string, string>;
    const values = (body.ExpressionAttributeValues ?? {}) as Item;
    if (!evaluate(parseExpression(expression), current ?? {}, names, values)) {
      throw new EngineError('ConditionalCheckFailedException', 'The conditional request failed');
    }
  }

  private validate(item: Item) {
    for (const index of this.indexes) {
      for (const key of [index.hash, index.range]) {
        if (!key || !(key in item)) continue;
        const type = Object.keys(item[key] as object)[0];
        if (type !== index.types[key])
          throw new EngineError('ValidationException', `Type mismatch for Index Key ${key}`);
      }
    }
    for (const value of Object.values(item)) checkValue(value, 1);
    const size = itemBytes(item);
    if (size > ITEM_LIMIT)
      throw new EngineError('ValidationException', 'Item size has exceeded the maximum allowed size');
  }

  private store(id: string, item: Item | undefined) {
    const before = this.items.get(id);
    if (item) this.items.set(id, item);
    else this.items.delete(id);
    const lag = this.lag();
    this.pending.push({ at: this.now() + lag, seq: this.seq++, id, item });
    this.onWrite?.(id, before, item);
  }

  /** Applies to the indexes the writes they can see by now, in the order they were made. */
  private settleIndexes() {
    const now = this.now();
    this.pending.sort((a, b) => a.seq - b.seq);
    // A write becomes visible once its time has come and every earlier write of the same item is visible.
    const blocked = new Set<string>();
    const keep: typeof this.pending = [];
    for (const write of this.pending) {
      if (write.at > now || blocked.has(write.id)) {
        blocked.add(write.id);
        keep.push(write);
        continue;
      }
      for (const index of this.indexes) {
        const view = this.views.get(index.name) as Map<string, Item>;
        if (write.item && index.hash in write.item && (!index.range || index.range in write.item))
          view.set(write.id, write.item);
        else view.delete(write.id);
      }
    }
    this.pending.splice(0, this.pending.length, ...keep);
  }

  private query(body: Record<string, unknown>) {
    this.settleIndexes();
    const index = this.indexes.find((i) => i.name === body.IndexName);
    if (!index) throw new EngineError('ValidationException', 'The table does not have the specified index');
    const names = (body.ExpressionAttributeNames ?? {}) as Record<string, string>;
    const values = (body.ExpressionAttributeValues ?? {}) as Item;
    const condition = parseExpression(String(body.KeyConditionExpression));
    const view = this.views.get(index.name) as Map<string, Item>;
    const forward = body.ScanIndexForward !== false;
    const rangeOf = (item: Item) => (index.range ? item[index.range] : undefined);
    const matching = [...view.values()]
      .filter((item) => evaluate(condition, item, names, values))
      .sort((a, b) => {
        const order =
          compareValues(rangeOf(a), rangeOf(b)) || compareValues(a[this.hashKey], b[this.hashKey]);
        return forward ? order : -order;
      });
    let start = 0;
    const startKey = body.ExclusiveStartKey as Item | undefined;
    if (startKey) {
      const after = (item: Item) => {
        const order =
          compareValues(rangeOf(item), index.range ? startKey[index.range] : undefined) ||
          compareValues(item[this.hashKey], startKey[this.hashKey]);
        return forward ? order > 0 : order < 0;
      };
      start = matching.findIndex(after);
      if (start < 0) start = matching.length;
    }
    const limit = typeof body.Limit === 'number' ? body.Limit : Infinity;
    const page: Item[] = [];
    let bytes = 0;
    let stopped = false;
    for (let n = start; n < matching.length; n++) {
      if (page.length >= limit || bytes >= PAGE_LIMIT) {
        stopped = true;
        break;
      }
      const item = matching[n] as Item;
      page.push(item);
      bytes += itemBytes(item);
    }
    if (!stopped && page.length > 0 && (page.length >= limit || bytes >= PAGE_LIMIT)) stopped = true;
    const answer: Record<string, unknown> = { Items: page, Count: page.length, ScannedCount: page.length };
    const last = page.at(-1);
    if (stopped && last) {
      const key: Item = { [this.hashKey]: last[this.hashKey] as AttributeValue };
      key[index.hash] = last[index.hash] as AttributeValue;
      if (index.range) key[index.range] = last[index.range] as AttributeValue;
      answer.LastEvaluatedKey = key;
    }
    return answer;
  }
}

/** DynamoDB refuses expression attribute names and values that no expression of the request uses. */
function checkUnused(body: Record<string, unknown>) {
  const text = [
    'ConditionExpression',
    'UpdateExpression',
    'KeyConditionExpression',
    'FilterExpression',
    'ProjectionExpression',
  ]
    .map((name) => (typeof body[name] === 'string' ? (body[name] as string) : ''))
    .join(' ');
  const used = new Set(text.match(/[#:][A-Za-z0-9_]+/g) ?? []);
  for (const [field, kind] of [
    ['ExpressionAttributeNames', 'names'],
    ['ExpressionAttributeValues', 'values'],
  ] as const) {
    const unused = Object.keys((body[field] ?? {}) as object).filter((key) => !used.has(key));
    if (unused.length > 0)
      throw new EngineError(
        'ValidationException',
        `Value provided in ExpressionAttribute${kind === 'names' ? 'Names' : 'Values'} unused in expressions: keys: {${unused.join(', ')}}`,
      );
  }
}

// ---- values --------------------------------------------------------------------------------------------------

function checkValue(value: AttributeValue, depth: number) {
  if ('N' in value) checkNumber(value.N);
  if ('NS' in value) value.NS.forEach(checkNumber);
  if ('L' in value || 'M' in value) {
    if (depth > MAX_DEPTH)
      throw new EngineError('ValidationException', 'Nesting Levels have exceeded supported limits');
    const children = 'L' in value ? value.L : Object.values(value.M);
    for (const child of children) checkValue(child, depth + 1);
  }
}

function checkNumber(text: string) {
  const match = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match)
    throw new EngineError(
      'ValidationException',
      `The parameter cannot be converted to a numeric value: ${text.slice(0, 40)}`,
    );
  const digits = `${match[1]}${match[2] ?? ''}`.replace(/^0+/, '');
  const significant = digits.replace(/0+$/, '');
  if (significant.length > 38)
    throw new EngineError(
      'ValidationException',
      'Attempting to store more than 38 significant digits in a Number',
    );
  if (significant.length === 0) return;
  // The decimal exponent of the first significant digit.
  const intDigits = match[1]?.replace(/^0+/, '') ?? '';
  const lead = intDigits.length > 0 ? intDigits.length - 1 : -((match[2] ?? '').search(/[1-9]/) + 1);
  const exponent = lead + Number(match[3] ?? 0);
  if (exponent > 125)
    throw new EngineError(
      'ValidationException',
      'Number overflow. Attempting to store a number with magnitude larger than supported range',
    );
  if (exponent < -130)
    throw new EngineError(
      'ValidationException',
      'Number underflow. Attempting to store a number with magnitude smaller than supported range',
    );
}

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

function numberBytes(text: string): number {
  const significant = text
    .replace(/^-/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(significant.length / 2) + 1 + (text.startsWith('-') ? 1 : 0);
}

function valueBytes(value: AttributeValue): number {
  if ('S' in value) return utf8(value.S);
  if ('N' in value) return numberBytes(value.N);
  if ('B' in value) return Buffer.from(value.B, 'base64').length;
  if ('BOOL' in value || 'NULL' in value) return 1;
  if ('SS' in value) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if ('NS' in value) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if ('L' in value) return 3 + value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + 1 + utf8(k) + valueBytes(v), 0);
}

export function itemBytes(item: Item): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueBytes(value), 0);
}

function compareValues(a: AttributeValue | undefined, b: AttributeValue | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  if ('N' in a && 'N' in b) return Math.sign(Number(a.N) - Number(b.N));
  if ('S' in a && 'S' in b) return Buffer.compare(Buffer.from(a.S), Buffer.from(b.S));
  return 0;
}

function sameValue(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if ('N' in a && 'N' in b) return Number(a.N) === Number(b.N);
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---- expressions ---------------------------------------------------------------------------------------------

type Node =
  | { op: 'and' | 'or'; left: Node; right: Node }
  | { op: 'not'; operand: Node }
  | { op: 'cmp'; cmp: string; left: Operand; right: Operand }
  | { op: 'between'; value: Operand; low: Operand; high: Operand }
  | { op: 'fn'; name: string; args: Operand[] };
type Operand = { path: string } | { value: string };

function tokenize(text: string): string[] {
  const tokens = text.match(/<>|<=|>=|[()=<>,+-]|[#:]?[A-Za-z_][\w.]*|:\w+|#\w+|\S/g);
  return tokens ?? [];
}

export function parseExpression(text: string): Node {
  const tokens = tokenize(text);
  let at = 0;
  const peek = () => tokens[at];
  const next = () => tokens[at++] as string;
  const expect = (token: string) => {
    if (next() !== token) throw new EngineError('ValidationException', `Invalid expression: ${text}`);
  };
  const operand = (): Operand => {
    const token = next();
    if (token.startsWith(':')) return { value: token };
    return { path: token };
  };
  const primary = (): Node => {
    const token = peek();
    if (token === '(') {
      next();
      const inner = or();
      expect(')');
      return inner;
    }
    if (token?.toUpperCase() === 'NOT') {
      next();
      return { op: 'not', operand: primary() };
    }
    if (
      token &&
      /^(attribute_exists|attribute_not_exists|begins_with|contains|attribute_type)$/.test(token) &&
      tokens[at + 1] === '('
    ) {
      next();
      next();
      const args: Operand[] = [operand()];
      while (peek() === ',') {
        next();
        args.push(operand());
      }
      expect(')');
      return { op: 'fn', name: token, args };
    }
    const left = operand();
    const cmp = next();
    if (cmp.toUpperCase() === 'BETWEEN') {
      const low = operand();
      if (next().toUpperCase() !== 'AND')
        throw new EngineError('ValidationException', `Invalid expression: ${text}`);
      return { op: 'between', value: left, low, high: operand() };
    }
    return { op: 'cmp', cmp, left, right: operand() };
  };
  const and = (): Node => {
    let left = primary();
    while (peek()?.toUpperCase() === 'AND') {
      next();
      left = { op: 'and', left, right: primary() };
    }
    return left;
  };
  const or = (): Node => {
    let left = and();
    while (peek()?.toUpperCase() === 'OR') {
      next();
      left = { op: 'or', left, right: and() };
    }
    return left;
  };
  const tree = or();
  if (at !== tokens.length) throw new EngineError('ValidationException', `Invalid expression: ${text}`);
  return tree;
}

function resolve(operand: Operand, item: Item, names: Record<string, string>, values: Item) {
  if ('value' in operand) {
    const value = values[operand.value];
    if (!value)
      throw new EngineError(
        'ValidationException',
        `An expression attribute value used in expression is not defined: ${operand.value}`,
      );
    return value;
  }
  const name = operand.path.startsWith('#') ? names[operand.path] : operand.path;
  if (name === undefined)
    throw new EngineError(
      'ValidationException',
      `An expression attribute name used in the document path is not defined: ${operand.path}`,
    );
  return item[name];
}

function evaluate(node: Node, item: Item, names: Record<string, string>, values: Item): boolean {
  switch (node.op) {
    case 'and':
      return evaluate(node.left, item, names, values) && evaluate(node.right, item, names, values);
    case 'or':
      return evaluate(node.left, item, names, values) || evaluate(node.right, item, names, values);
    case 'not':
      return !evaluate(node.operand, item, names, values);
    case 'between': {
      const value = resolve(node.value, item, names, values);
      const low = resolve(node.low, item, names, values);
      const high = resolve(node.high, item, names, values);
      if (!value || Object.keys(value)[0] !== Object.keys(low as object)[0]) return false;
      return compareValues(value, low) >= 0 && compareValues(value, high) <= 0;
    }
    case 'fn': {
      const [first, second] = node.args as [Operand, Operand | undefined];
      const value = resolve(first, item, names, values);
      if (node.name === 'attribute_exists') return value !== undefined;
      if (node.name === 'attribute_not_exists') return value === undefined;
      if (node.name === 'begins_with') {
        const prefix = second ? resolve(second, item, names, values) : undefined;
        return !!value && !!prefix && 'S' in value && 'S' in prefix && value.S.startsWith(prefix.S);
      }
      throw new EngineError('ValidationException', `Unsupported function ${node.name}`);
    }
    case 'cmp': {
      const left = resolve(node.left, item, names, values);
      const right = resolve(node.right, item, names, values);
      if (node.cmp === '=') return sameValue(left, right);
      if (node.cmp === '<>') return !sameValue(left, right);
      if (!left || !right || Object.keys(left)[0] !== Object.keys(right)[0]) return false;
      const order = compareValues(left, right);
      if (node.cmp === '<') return order < 0;
      if (node.cmp === '<=') return order <= 0;
      if (node.cmp === '>') return order > 0;
      if (node.cmp === '>=') return order >= 0;
      throw new EngineError('ValidationException', `Invalid comparator ${node.cmp}`);
    }
  }
}

/** `SET a = b [+|- c], …` and `REMOVE a, …`, the forms the store uses. */
function applyUpdate(expression: string, item: Item, names: Record<string, string>, values: Item) {
  const clauses = expression
    .split(/\b(?=SET\b|REMOVE\b|ADD\b)/i)
    .map((c) => c.trim())
    .filter(Boolean);
  const nameOf = (token: string) => {
    const name = token.startsWith('#') ? names[token] : token;
    if (name === undefined) throw new EngineError('ValidationException', `Undefined name ${token}`);
    return name;
  };
  for (const clause of clauses) {
    const [verb, ...rest] = clause.split(/\s+/);
    const body = rest.join(' ');
    if (verb?.toUpperCase() === 'REMOVE') {
      for (const token of body.split(',').map((t) => t.trim())) delete item[nameOf(token)];
      continue;
    }
    if (verb?.toUpperCase() === 'ADD') {
      // ADD a number: to the attribute, or from nothing (the attribute is created).
      for (const pair of body.split(',').map((t) => t.trim())) {
        const [target, token] = pair.split(/\s+/) as [string, string];
        const addend = values[token];
        const current = item[nameOf(target)];
        if (!addend || !('N' in addend) || (current && !('N' in current)))
          throw new EngineError(
            'ValidationException',
            'An operand in the update expression has an incorrect data type',
          );
        item[nameOf(target)] = {
          N: String(Number(current && 'N' in current ? current.N : 0) + Number(addend.N)),
        };
      }
      continue;
    }
    for (const assignment of body.split(',').map((t) => t.trim())) {
      const [target, expr] = assignment.split('=').map((t) => t.trim()) as [string, string];
      const parts = expr.split(/\s*([+-])\s*/);
      const value = (token: string) => {
        if (token.startsWith(':')) {
          const v = values[token];
          if (!v) throw new EngineError('ValidationException', `Undefined value ${token}`);
          return v;
        }
        const v = item[nameOf(token)];
        if (!v)
          throw new EngineError(
            'ValidationException',
            'The provided expression refers to an attribute that does not exist in the item',
          );
        return v;
      };
      let result = value(parts[0] as string);
      for (let n = 1; n < parts.length; n += 2) {
        const operand = value(parts[n + 1] as string);
        if (!('N' in result) || !('N' in operand))
          throw new EngineError(
            'ValidationException',
            'An operand in the update expression has an incorrect data type',
          );
        const sum =
          parts[n] === '+' ? Number(result.N) + Number(operand.N) : Number(result.N) - Number(operand.N);
        result = { N: String(sum) };
      }
      item[nameOf(target)] = result;
    }
  }
}

function updatedNames(expression: string, names: Record<string, string>): string[] {
  const set = /\bSET\b(.*?)(?=\bREMOVE\b|\bADD\b|$)/i.exec(expression)?.[1] ?? '';
  const add = /\bADD\b(.*?)(?=\bREMOVE\b|\bSET\b|$)/i.exec(expression)?.[1] ?? '';
  return [
    ...set.split(',').map((a) => a.split('=')[0]?.trim() ?? ''),
    ...add.split(',').map((a) => a.trim().split(/\s+/)[0] ?? ''),
  ]
    .filter(Boolean)
    .map((token) => (token.startsWith('#') ? (names[token] as string) : token));
}
