import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { DynamoDb, TableOperation } from '../aws/dynamodb';
import { StoreUnavailableError } from '../errors';
import { deadlineSignal, type CallOptions } from '../upstream';

/**
 * The tracking table's shape, in one place: serverless.yml declares the same (a test compares them), and the
 * local run and the tests create it in dynalite from here.
 *
 * - `id` (hash key): the tracking id.
 * - `due` index (sparse): only records with something left to do carry `dueShard` (`<provider>#<n>`) and `dueAt`
 *   (epoch ms): the next check of an unfinished task, the next delivery try of an outbox, or the end of a
 *   poller's lease. Pollers query `dueAt <= now` per shard.
 * - `byProvider` index: `provider` + `listSk` (`<status>#<firstSeenAt>#<id>`), for `GET /tasks?provider=&status=`.
 * - `byIdentity` index: `scope` (`lke#<botBizId>`, `smh#<libraryId>`) + `scopeSk` (`<taskType>#<taskId>`,
 *   `<spaceId or ~>#<taskId>#<userId>`), projecting only `status` and `identity`, for `GET /tasks` filtered by
 *   the upstream identity. Its entries change only when a record is created, changes status or is deleted: a
 *   check that changes nothing writes nothing to it.
 * - `expiresAt` (epoch s): DynamoDB TTL, set on finished records only.
 */
export const TABLE = {
  hashKey: 'id',
  dueIndex: { name: 'due', hashKey: 'dueShard', rangeKey: 'dueAt' },
  listIndex: { name: 'byProvider', hashKey: 'provider', rangeKey: 'listSk' },
  identityIndex: {
    name: 'byIdentity',
    hashKey: 'scope',
    rangeKey: 'scopeSk',
    projected: ['status', 'identity'],
  },
  ttlAttribute: 'expiresAt',
} as const;

export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: TABLE.hashKey, AttributeType: 'S' },
      { AttributeName: TABLE.dueIndex.hashKey, AttributeType: 'S' },
      { AttributeName: TABLE.dueIndex.rangeKey, AttributeType: 'N' },
      { AttributeName: TABLE.listIndex.hashKey, AttributeType: 'S' },
      { AttributeName: TABLE.listIndex.rangeKey, AttributeType: 'S' },
      { AttributeName: TABLE.identityIndex.hashKey, AttributeType: 'S' },
      { AttributeName: TABLE.identityIndex.rangeKey, AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: TABLE.hashKey, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: TABLE.dueIndex.name,
        KeySchema: [
          { AttributeName: TABLE.dueIndex.hashKey, KeyType: 'HASH' },
          { AttributeName: TABLE.dueIndex.rangeKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: TABLE.listIndex.name,
        KeySchema: [
          { AttributeName: TABLE.listIndex.hashKey, KeyType: 'HASH' },
          { AttributeName: TABLE.listIndex.rangeKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: TABLE.identityIndex.name,
        KeySchema: [
          { AttributeName: TABLE.identityIndex.hashKey, KeyType: 'HASH' },
          { AttributeName: TABLE.identityIndex.rangeKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...TABLE.identityIndex.projected] },
      },
    ],
  };
}

/** What the table answers, in plain values (lib/aws/dynamodb.ts unmarshals them). */
export interface TableAnswer extends Record<string, unknown> {
  Item?: Record<string, unknown>;
  Items?: Record<string, unknown>[];
  Attributes?: Record<string, unknown>;
  LastEvaluatedKey?: Record<string, unknown>;
}

/** Without a caller's deadline, a call gets this long. */
const DEFAULT_CALL_BUDGET_MS = 10_000;
/** A call gives up this long before the caller's deadline, leaving the caller time to answer. */
const DEADLINE_MARGIN_MS = 200;

/**
 * One table call within the caller's time: the client's per-attempt timeouts and retries, all cut off at the
 * deadline. A failed condition and a refused request (`ValidationException`: nothing was sent, or DynamoDB
 * refused it) pass through as they are; anything else (no connection, no answer, throttled past the retries) is
 * 503 StoreUnavailable, `timedOut` when time ran out. Used by the task store and the LKE quota's schedule.
 */
export async function sendWithin(
  client: DynamoDb,
  operation: TableOperation,
  input: Record<string, unknown>,
  call: CallOptions = {},
): Promise<TableAnswer> {
  const deadline = call.deadline ?? Date.now() + DEFAULT_CALL_BUDGET_MS + DEADLINE_MARGIN_MS;
  const remaining = deadline - DEADLINE_MARGIN_MS - Date.now();
  if (remaining <= 0 || call.signal?.aborted) {
    throw new StoreUnavailableError('No time was left to reach the tracking table', { timedOut: true });
  }
  const limit = deadlineSignal(remaining, call.signal);
  try {
    return await client.send<TableAnswer>(operation, input, { signal: limit.signal });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'ConditionalCheckFailedException' || name === 'ValidationException') throw error;
    const timedOut = limit.signal.aborted || name === 'TimeoutError';
    throw new StoreUnavailableError(
      `The tracking table did not answer (${name}${timedOut ? ', out of time' : ''}); retry later`,
      { cause: error, timedOut },
    );
  } finally {
    limit.clear();
  }
}
