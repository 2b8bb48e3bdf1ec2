import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshallItem, unmarshallItem } from '../../lib/aws/attribute-values';
import { DynamoDb, DynamoDbError, type TableTransport } from '../../lib/aws/dynamodb';
import { ExactNumber, parseJson, stringifyJson } from '../../lib/json';
import { valueSize } from '../../lib/tracking/item-size';

const BIG = '123456789012345678901234567890';

/** A record of the kinds the store writes (lib/tracking/store.ts `itemFor`). */
const ordinary = {
  id: 'smh_AbCdEfGhIjKlMnOpQrStUvWx',
  version: 7,
  attempts: 0,
  dueAt: 1_764_410_400_123,
  ratio: -0.25,
  negativeZero: -0,
  small: 1e-7,
  maxSafe: Number.MAX_SAFE_INTEGER,
  empty: '',
  unicode: 'bibliothèque 😀',
  done: false,
  lease: null,
  skipped: undefined,
  history: [{ status: 'pending', at: '2026-11-29T10:00:00.000Z' }, { status: 'running' }],
  result: [{ status: 200, path: ['a', 'x.jpg'], nested: { deeper: [[], {}, [1, [2, null]]] } }],
  listWithHoles: [1, undefined, 'two'],
  'odd key.with spaces': { '': 'empty key', 'a-b': 1 },
};

const wire = (value: unknown) => marshallItem({ value }).value as AttributeValue;
const refusal = (value: unknown, path = 'value') => {
  try {
    marshallItem({ [path]: value });
  } catch (error) {
    return error as DynamoDbError;
  }
  throw new Error('marshallItem did not refuse');
};

describe('marshallItem / unmarshallItem (lib/aws/attribute-values.ts)', () => {
  it("writes ordinary values exactly as @aws-sdk/util-dynamodb's marshall did, and reads them back alike", () => {
    const ours = marshallItem(ordinary);
    const theirs = marshall(ordinary, { removeUndefinedValues: true, convertClassInstanceToMap: false });
    expect(ours).toEqual(theirs);
    expect(JSON.stringify(ours)).toBe(JSON.stringify(theirs));
    expect(unmarshallItem(ours)).toEqual(unmarshall(theirs));
    const { skipped: _skipped, ...stored } = ordinary;
    expect(unmarshallItem(ours)).toEqual({ ...stored, negativeZero: 0, listWithHoles: [1, 'two'] });
  });

  it('writes every digit of an ExactNumber, and reads an N a double would change back as one', () => {
    const item = {
      size: new ExactNumber(BIG),
      ids: [new ExactNumber('9007199254740993'), 1],
      ratio: new ExactNumber('-0.123456789012345678901234567890123456'),
      large: new ExactNumber('9.9999999999999999999999999999999999999E+125'),
      tiny: new ExactNumber('1.0000000000000000000000001e-130'),
      big: 12345678901234567890n,
    };
    const written = marshallItem(item);
    expect(written).toEqual({
      size: { N: BIG },
      ids: { L: [{ N: '9007199254740993' }, { N: '1' }] },
      ratio: { N: '-0.123456789012345678901234567890123456' },
      large: { N: '9.9999999999999999999999999999999999999E+125' },
      tiny: { N: '1.0000000000000000000000001e-130' },
      big: { N: '12345678901234567890' },
    });
    expect(unmarshallItem(written)).toEqual({ ...item, big: new ExactNumber('12345678901234567890') });
    // util-dynamodb could do neither: it refuses the number JSON.parse would have made, and reads a BigInt.
    expect(() => marshall({ size: Number(BIG) })).toThrow(/MAX_SAFE_INTEGER/);
    expect(unmarshall({ size: { N: BIG } })).toEqual({ size: BigInt(BIG) });
    // A JS number beyond 2^53 (a double) is stored as the double it is, and comes back exact.
    expect(marshallItem({ n: 1e21 })).toEqual({ n: { N: '1e+21' } });
    expect(unmarshallItem({ n: { N: '1000000000000000000000' } })).toEqual({
      n: new ExactNumber('1000000000000000000000'),
    });
  });

  it('refuses a number DynamoDB cannot store, before sending, as a ValidationException naming where', () => {
    const error = refusal({ list: [0, 1, 2, { size: new ExactNumber('1e400') }] }, 'result');
    expect(error).toBeInstanceOf(DynamoDbError);
    expect(error).toMatchObject({ name: 'ValidationException', retryable: false, statusCode: undefined });
    expect(error.message).toBe(
      'result.list[3].size: 1e400 is beyond what DynamoDB can store (1E-130 to 9.99…E+125 in magnitude)',
    );
    expect(refusal(new ExactNumber('-1e126')).message).toMatch(/^value: -1e126 is beyond/);
    expect(refusal(new ExactNumber('9.99e-131')).message).toMatch(/^value: 9.99e-131 is beyond/);
    expect(refusal(5e-324).message).toMatch(/^value: 5e-324 is beyond/);
    expect(refusal(1e200).message).toMatch(/^value: 1e\+200 is beyond/);
    expect(refusal(new ExactNumber(`1${'2'.repeat(38)}`)).message).toBe(
      'value: 122222222222222222222222222222222222222 has 39 significant digits, more than the 38 DynamoDB can store',
    );
    expect(refusal({ 'a b': NaN }).message).toBe('value["a b"]: NaN is not a number DynamoDB can store');
    expect(refusal([Infinity]).message).toBe('value[0]: Infinity is not a number DynamoDB can store');
    // 38 significant digits, trailing zeros not counted, are fine.
    expect(wire(new ExactNumber(`${'9'.repeat(38)}000`))).toEqual({ N: `${'9'.repeat(38)}000` });
  });

  it('refuses lists and maps nested deeper than 32 levels', () => {
    const nested = (levels: number): unknown => (levels === 0 ? 'leaf' : [nested(levels - 1)]);
    expect(() => wire(nested(32))).not.toThrow();
    const error = refusal(nested(33));
    expect(error).toMatchObject({ name: 'ValidationException', retryable: false });
    expect(error.message).toBe(
      `value${'[0]'.repeat(32)}: lists and maps are nested more than the 32 levels DynamoDB allows`,
    );
    let map: unknown = 1;
    for (let i = 0; i < 33; i++) map = { m: map };
    expect(refusal(map).message).toMatch(/^value(\.m){32}: lists and maps are nested more than/);
  });

  it('refuses what it would not read back the same: sets, maps, binary, dates, class instances, functions', () => {
    class Point {
      x = 1;
    }
    const cases: [unknown, RegExp][] = [
      [new Set(['a']), /a Set cannot be stored/],
      [new Map([['a', 1]]), /a Map cannot be stored/],
      [Buffer.from('x'), /a Buffer cannot be stored/],
      [new Uint8Array(2), /a Uint8Array cannot be stored/],
      [new Date(0), /a Date cannot be stored/],
      [new Point(), /a Point cannot be stored/],
      [() => 1, /a function cannot be stored/],
      [Symbol('s'), /a symbol cannot be stored/],
    ];
    for (const [value, message] of cases) {
      const error = refusal({ inner: value });
      expect(error).toMatchObject({ name: 'ValidationException', retryable: false });
      expect(error.message).toMatch(new RegExp(`^value\\.inner: ${message.source}`));
    }
    expect(marshallItem({ plain: Object.assign(Object.create(null), { a: 1 }) })).toEqual({
      plain: { M: { a: { N: '1' } } },
    });
  });

  it('keeps a "__proto__" key as a key, both ways', () => {
    const value = parseJson('{"__proto__":{"size":12345678901234567890}}') as Record<string, unknown>;
    const written = marshallItem({ result: value });
    expect(JSON.stringify(written)).toBe(
      '{"result":{"M":{"__proto__":{"M":{"size":{"N":"12345678901234567890"}}}}}}',
    );
    const read = unmarshallItem(written).result as object;
    expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
    expect(stringifyJson(read)).toBe('{"__proto__":{"size":12345678901234567890}}');
  });

  it('refuses to read attribute types the store never writes', () => {
    expect(() => unmarshallItem({ tags: { SS: ['a'] } })).toThrow(
      'tags: DynamoDB answered an attribute value of type SS, which this client does not read',
    );
  });

  it('counts an ExactNumber as DynamoDB does: a byte per two significant digits, plus one', () => {
    expect(valueSize(new ExactNumber(BIG))).toBe(Math.ceil(29 / 2) + 1);
    expect(valueSize(new ExactNumber(`-${BIG}`))).toBe(Math.ceil(29 / 2) + 2);
    expect(valueSize(new ExactNumber('1e400'))).toBe(2);
    expect(valueSize(new ExactNumber('0.000123456789012345678901'))).toBe(Math.ceil(21 / 2) + 1);
    expect(valueSize({ a: new ExactNumber(BIG) })).toBe(3 + 1 + 1 + 16);
  });
});

describe('the table client refuses what DynamoDB cannot store without sending anything', () => {
  it('throws the ValidationException before any request', async () => {
    let requests = 0;
    const transport: TableTransport = async () => {
      requests++;
      return { status: 200, body: '{}' };
    };
    const client = new DynamoDb({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      transport,
    });
    const error = await client
      .send('PutItem', { TableName: 't', Item: { id: 'x', result: [{ size: new ExactNumber('1e400') }] } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DynamoDbError);
    expect(error).toMatchObject({
      name: 'ValidationException',
      retryable: false,
      message: 'result[0].size: 1e400 is beyond what DynamoDB can store (1E-130 to 9.99…E+125 in magnitude)',
    });
    expect(requests).toBe(0);
    await client.send('PutItem', {
      TableName: 't',
      Item: { id: 'x', result: [{ size: new ExactNumber(BIG) }] },
    });
    expect(requests).toBe(1);
    client.destroy();
  });
});
