import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The tracking table's shape, in one place: serverless.yml declares the same (a test compares them), and the
 * local run and the tests create it in dynalite from here.
 *
 * - `id` (hash key): the tracking id.
 * - `due` index (sparse): only records with something left to do carry `dueShard` (`<provider>#<n>`) and `dueAt`
 *   (epoch ms): the next check of an unfinished task, the next delivery try of an outbox, or the end of a
 *   poller's lease. Pollers query `dueAt <= now` per shard.
 * - `byProvider` index: `provider` + `listSk` (`<status>#<firstSeenAt>#<id>`), for `GET /tasks?provider=&status=`.
 * - `expiresAt` (epoch s): DynamoDB TTL, set on finished records only.
 */
export const TABLE = {
  hashKey: 'id',
  dueIndex: { name: 'due', hashKey: 'dueShard', rangeKey: 'dueAt' },
  listIndex: { name: 'byProvider', hashKey: 'provider', rangeKey: 'listSk' },
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
    ],
  };
}
