import { DynamoDb, type TableTransport } from '../../lib/aws/dynamodb';
import { createTableInput } from '../../lib/tracking/table';
import { startDynamo, type LocalDynamo } from '../helpers/dynamo';
import { EngineError, TableEngine } from './engine';
import { Rng } from './rng';

/**
 * The simulation's in-memory DynamoDB (test/sim/engine.ts) against dynalite: the same random operations, of the
 * kinds the store and the quota send, through the same table client, must come back the same (answers and error
 * names). A rule the engine got wrong would let the simulation pass where DynamoDB would not.
 */
let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynamo('engine-test');
});
afterAll(() => dynamo.close());

const TABLE = 'engine-test';

function engineClient(engine: TableEngine): DynamoDb {
  const transport: TableTransport = async ({ operation, body }) => {
    try {
      return { status: 200, body: JSON.stringify(engine.handle(operation, JSON.parse(body))) };
    } catch (error) {
      if (!(error instanceof EngineError)) throw error;
      return {
        status: error.status,
        body: JSON.stringify({
          __type: `com.amazonaws.dynamodb.v20120810#${error.type}`,
          message: error.message,
        }),
      };
    }
  };
  return new DynamoDb({
    endpoint: 'http://engine.invalid',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    transport,
  });
}

/** One random request of the shapes lib/tracking/store.ts and lib/lke/quota-table.ts send. */
function randomRequest(r: Rng, version: Map<string, number>): [string, Record<string, unknown>] {
  const n = r.int(0, 7);
  const id = `t${n}`;
  const shard = `lke#${r.int(0, 1)}`;
  // No two items share a due time: DynamoDB leaves the order of equal sort keys open (dynalite and the engine
  // each keep one).
  const dueAt = r.int(0, 20) * 1000 + n;
  const known = version.get(id);
  switch (r.int(0, 6)) {
    case 0:
    case 1: {
      const item: Record<string, unknown> = {
        id,
        version: (known ?? 0) + 1,
        status: r.pick(['running', 'pending']),
      };
      if (r.chance(0.8)) Object.assign(item, { dueShard: shard, dueAt });
      if (r.chance(0.3)) item.result = { n: r.int(0, 9), list: [1, 'two', null, { deep: true }] };
      const conditional = r.chance(0.5)
        ? { ConditionExpression: 'attribute_not_exists(id)' }
        : {
            ConditionExpression: '#v = :v',
            ExpressionAttributeNames: { '#v': 'version' },
            ExpressionAttributeValues: { ':v': r.chance(0.7) ? (known ?? 0) : (known ?? 0) + 1 },
          };
      return ['PutItem', { TableName: TABLE, Item: item, ...conditional }];
    }
    case 2:
      return ['GetItem', { TableName: TABLE, Key: { id }, ConsistentRead: true }];
    case 3: {
      const now = r.int(0, 20) * 1000;
      // The quota's two reservations (lib/lke/quota-table.ts), each with exactly the values it uses.
      const idle = r.chance(0.5);
      return [
        'UpdateItem',
        {
          TableName: TABLE,
          Key: { id: 'quota#lke' },
          UpdateExpression: idle
            ? 'SET #next = :end ADD #seq :one'
            : 'SET #next = #next + :span ADD #seq :one',
          ConditionExpression: idle
            ? 'attribute_not_exists(#next) OR #next < :now'
            : '#next BETWEEN :now AND :latest',
          ExpressionAttributeNames: { '#next': 'next', '#seq': 'seq' },
          ExpressionAttributeValues: idle
            ? { ':end': now + 500, ':now': now, ':one': 1 }
            : { ':span': 250, ':now': now, ':latest': now + 2000, ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        },
      ];
    }
    case 4:
      return [
        'UpdateItem',
        {
          TableName: TABLE,
          Key: { id: 'quota#lke' },
          UpdateExpression: 'SET #next = #next - :span, #returned = :mark ADD #seq :one',
          ConditionExpression: '#seq = :seq',
          ExpressionAttributeNames: { '#next': 'next', '#returned': 'returned', '#seq': 'seq' },
          ExpressionAttributeValues: { ':span': 250, ':seq': r.int(0, 6), ':mark': r.text(6), ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        },
      ];
    default:
      return [
        'Query',
        {
          TableName: TABLE,
          IndexName: 'due',
          KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
          ExpressionAttributeNames: { '#shard': 'dueShard', '#dueAt': 'dueAt' },
          ExpressionAttributeValues: { ':shard': shard, ':now': r.int(0, 20) * 1000 },
          Limit: r.int(1, 5),
        },
      ];
  }
}

type Outcome = { ok: Record<string, unknown> } | { error: string };
const outcome = (call: Promise<Record<string, unknown>>): Promise<Outcome> =>
  call.then(
    (ok) => {
      const { ConsumedCapacity: _c, ScannedCount: _s, ...rest } = ok;
      return { ok: rest };
    },
    (error: Error) => ({ error: error.name }),
  );

it('answers 400 random store and quota requests as dynalite does, pages included', async () => {
  const engine = new TableEngine(createTableInput(TABLE));
  const ours = engineClient(engine);
  const r = new Rng(2026, 9);
  const version = new Map<string, number>();
  for (let n = 0; n < 400; n++) {
    const [operation, input] = randomRequest(r, version);
    const real = await outcome(dynamo.table.send(operation as 'PutItem', input));
    const sim = await outcome(ours.send(operation as 'PutItem', input));
    expect([n, operation, sim]).toEqual([n, operation, real]);
    if (operation === 'PutItem' && 'ok' in real) {
      const item = input.Item as { id: string; version: number };
      version.set(item.id, item.version);
    }
    // A page that stopped at its limit goes on where it stopped, in both.
    const startKey =
      'ok' in real ? (real.ok.LastEvaluatedKey as Record<string, unknown> | undefined) : undefined;
    if (operation === 'Query' && startKey) {
      const next = { ...input, ExclusiveStartKey: startKey };
      expect(await outcome(ours.send('Query', next))).toEqual(
        await outcome(dynamo.table.send('Query', next)),
      );
    }
  }
});

it('refuses what DynamoDB refuses: unused expression values, over 400 KB, more than 32 levels, more than 38 digits', async () => {
  const engine = new TableEngine(createTableInput(TABLE));
  const ours = engineClient(engine);
  let deep: unknown = 'x';
  for (let n = 0; n < 33; n++) deep = [deep];
  const cases = [
    { id: 'big', blob: 'x'.repeat(401 * 1024) },
    { id: 'deep', value: deep },
  ];
  const unused = {
    TableName: TABLE,
    Item: { id: 'u' },
    ConditionExpression: 'attribute_not_exists(id)',
    ExpressionAttributeValues: { ':spare': 1 },
  };
  expect(await outcome(ours.send('PutItem', unused))).toEqual(
    await outcome(dynamo.table.send('PutItem', unused)),
  );
  for (const item of cases) {
    const input = { TableName: TABLE, Item: item };
    expect(await outcome(ours.send('PutItem', input))).toEqual(
      await outcome(dynamo.table.send('PutItem', input)),
    );
    expect(await outcome(ours.send('PutItem', input))).toEqual({ error: 'ValidationException' });
  }
  // The client refuses a 39-digit number before sending (lib/aws/attribute-values.ts); the engine, as DynamoDB.
  expect(() =>
    engine.handle('PutItem', { TableName: TABLE, Item: { id: { S: 'n' }, n: { N: '1'.repeat(39) } } }),
  ).toThrow(EngineError);
});
