import {
  ExactNumber,
  keepsExactly,
  numberParts,
  parseJson,
  sameJson,
  stringifyJson,
  toNumber,
} from '../../lib/json';

const BIG = '123456789012345678901234567890';

describe('parseJson', () => {
  it('keeps every digit of numbers a double would change, as ExactNumber', () => {
    const text = `{"size":${BIG},"ids":[9007199254740993,-9007199254740993,1],"ratio":0.12345678901234567890123,"huge":1e400,"tiny":1e-400}`;
    const value = parseJson(text) as Record<string, unknown>;
    expect(value).toEqual({
      size: new ExactNumber(BIG),
      ids: [new ExactNumber('9007199254740993'), new ExactNumber('-9007199254740993'), 1],
      ratio: new ExactNumber('0.12345678901234567890123'),
      huge: new ExactNumber('1e400'),
      tiny: new ExactNumber('1e-400'),
    });
    // What JSON.parse makes of the same text: numbers SMH never sent.
    expect(JSON.parse(text).size).toBe(123456789012345680000000000000);
    expect(stringifyJson(value)).toBe(text);
  });

  it('answers plain numbers wherever a double keeps them, on the fast path and the lossless one alike', () => {
    const numbers = [0, -1, 0.1, 1.5, 123456789012345, 9007199254740991, -9007199254740991, 5e-324, 1.5e-300];
    const texts = ['0', '-1', '0.1', '1.5', '123456789012345', '9007199254740991', '-9007199254740991'];
    // Without a long digit run or an exponent the native parser answers; with one, lossless-json does.
    expect(parseJson(`[${texts.join(',')}]`)).toEqual(numbers.slice(0, texts.length));
    expect(parseJson(`[${numbers.map(String).join(',')}]`)).toEqual(numbers);
    expect(parseJson('[1E5, 2.50, -0.0e0, 12345678901234.5]')).toEqual([100000, 2.5, -0, 12345678901234.5]);
  });

  it('treats every integer beyond ±2^53 as exact, however it is written', () => {
    for (const text of [
      '9007199254740992',
      '1e20',
      '12345678901234567000',
      '1.5e30',
      '100000000000000000000.0',
    ])
      expect([text, toNumber(text)]).toEqual([text, new ExactNumber(text)]);
    expect(keepsExactly('9007199254740991')).toBe(true);
    expect(keepsExactly('0.1')).toBe(true);
    expect(keepsExactly('0.10000000000000000001')).toBe(false);
  });

  it('takes the native parser only where it is safe: a double keeps every number of 15 digits or fewer', () => {
    // The fast path's premise, checked on numbers of every shape it lets through (seeded, so repeatable).
    let seed = 42;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let i = 0; i < 5_000; i++) {
      const length = 1 + random(15);
      let digits = String(1 + random(9));
      while (digits.length < length) digits += String(random(10));
      const point = random(length + 1);
      const body = point === 0 ? digits : `${digits.slice(0, point)}.${digits.slice(point)}`;
      const small = `0.${'0'.repeat(random(4))}${digits.slice(0, 11)}`;
      const text = `${random(2) ? '-' : ''}${random(4) === 0 ? small : point === length ? digits : body}`;
      expect([text, keepsExactly(text)]).toEqual([text, true]);
      expect(parseJson(`[${text}]`)).toEqual([Number(text)]);
    }
  });

  it('reads numbers inside strings as text, and finds a long number split by a point', () => {
    const text = '{"crc64":"12345678901234567890","name":"a3e45","n":1234567.12345678901}';
    expect(parseJson(text)).toEqual({
      crc64: '12345678901234567890',
      name: 'a3e45',
      n: new ExactNumber('1234567.12345678901'),
    });
  });

  it('behaves as JSON.parse otherwise: the last of two keys wins, __proto__ is a key, bad JSON throws', () => {
    const twice = '{"a":1,"a":12345678901234567890}';
    expect(parseJson(twice)).toEqual({ a: new ExactNumber('12345678901234567890') });
    const proto = parseJson('{"__proto__":{"x":12345678901234567890}}') as object;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
    expect(() => parseJson('{"a":12345678901234567890')).toThrow(SyntaxError);
    expect(() => parseJson('{"a":1')).toThrow(SyntaxError);
    expect(() => parseJson('')).toThrow(SyntaxError);
  });
});

describe('stringifyJson', () => {
  it('writes an ExactNumber as its digits, a JSON number, and everything else as JSON.stringify does', () => {
    const value = {
      a: new ExactNumber(BIG),
      b: [1, 'x', null, undefined, true, { c: new ExactNumber('-1.5e400') }],
      d: undefined,
      e: NaN,
      f: new Date(0),
    };
    expect(stringifyJson(value)).toBe(
      `{"a":${BIG},"b":[1,"x",null,null,true,{"c":-1.5e400}],"e":null,"f":"1970-01-01T00:00:00.000Z"}`,
    );
    expect(stringifyJson({ a: [1, { b: new ExactNumber(BIG) }] }, 1)).toBe(
      `{\n "a": [\n  1,\n  {\n   "b": ${BIG}\n  }\n ]\n}`,
    );
    const plain = { a: [1, 'two', { three: 3.5, four: null }], five: false };
    expect(stringifyJson(plain)).toBe(JSON.stringify(plain));
    expect(stringifyJson(plain, 2)).toBe(JSON.stringify(plain, null, 2));
  });

  it('JSON.stringify writes the digits too where JSON.rawJSON exists (Node 22), else them as a string', () => {
    const text = JSON.stringify({ a: new ExactNumber(BIG) });
    const rawJSON = (JSON as { rawJSON?: unknown }).rawJSON;
    expect(text).toBe(typeof rawJSON === 'function' ? `{"a":${BIG}}` : `{"a":"${BIG}"}`);
  });
});

describe('ExactNumber', () => {
  it('holds a JSON number only', () => {
    expect(new ExactNumber('-1.25E+7').value).toBe('-1.25E+7');
    expect(String(new ExactNumber(BIG))).toBe(BIG);
    for (const bad of ['', '01', '1.', '.5', '+1', '1e', 'NaN', 'Infinity', ' 1', '0x10'])
      expect(() => new ExactNumber(bad)).toThrow(TypeError);
  });

  it('splits into sign, significant digits and exponent', () => {
    expect(numberParts('-0.00120')).toEqual({ negative: true, digits: '12', exponent: -3 });
    expect(numberParts(BIG)).toEqual({ negative: false, digits: BIG.slice(0, -1), exponent: 29 });
    expect(numberParts('0e5')).toEqual({ negative: false, digits: '0', exponent: 0 });
  });
});

describe('sameJson', () => {
  it('compares numbers by value and objects whatever their key order, as DynamoDB hands them back', () => {
    // DynamoDB writes `1.5e30` back as its digits, and keeps no key order: the same result, not a change.
    expect(
      sameJson(
        { a: new ExactNumber('1.5e30'), b: [1, 2] },
        { b: [1, 2], a: new ExactNumber('1' + '5' + '0'.repeat(29)) },
      ),
    ).toBe(true);
    expect(sameJson({ size: 1.5 }, { size: new ExactNumber('1.50') })).toBe(true);
    expect(sameJson(new ExactNumber('9007199254740993'), new ExactNumber('9007199254740992'))).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(sameJson({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson('1', 1)).toBe(false);
  });
});
