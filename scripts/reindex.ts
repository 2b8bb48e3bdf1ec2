/**
 * `TABLE_NAME=<table> npm run reindex`: puts every record written before the `byIdentity` index existed into
 * it, so that `GET /tasks` finds it by its Tencent identity (records written since carry the index's keys, and an
 * unfinished task gets them at its next check anyway; a finished one is never written again). Run it once per
 * table after deploying this version, with credentials that may Scan and UpdateItem the table; it goes where
 * the AWS SDK goes (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, …). Safe to run again and while the service runs:
 * each update adds only the two keys, only to a record that still exists and still lacks them.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { identityKey, type TaskIdentity } from '../lib/tracking/model';
import { TABLE } from '../lib/tracking/table';

export interface ReindexResult {
  /** Records read (the table's items that hold a task identity). */
  scanned: number;
  /** Records given the index's keys. */
  added: number;
}

export async function reindex(client: DynamoDBClient, tableName: string): Promise<ReindexResult> {
  const result: ReindexResult = { scanned: 0, added: 0 };
  let startKey: Record<string, never> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'attribute_exists(#identity) AND attribute_not_exists(#scope)',
        ProjectionExpression: '#id, #identity',
        ExpressionAttributeNames: {
          '#id': TABLE.hashKey,
          '#identity': 'identity',
          '#scope': TABLE.identityIndex.hashKey,
        },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const raw of page.Items ?? []) {
      result.scanned++;
      const { id, identity } = unmarshall(raw) as { id: string; identity: TaskIdentity };
      const key = identityKey(identity);
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { [TABLE.hashKey]: { S: id } },
            UpdateExpression: 'SET #scope = :scope, #sk = :sk',
            ConditionExpression: 'attribute_exists(#id) AND attribute_not_exists(#scope)',
            ExpressionAttributeNames: {
              '#id': TABLE.hashKey,
              '#scope': TABLE.identityIndex.hashKey,
              '#sk': TABLE.identityIndex.rangeKey,
            },
            ExpressionAttributeValues: { ':scope': { S: key.scope }, ':sk': { S: key.scopeSk } },
          }),
        );
        result.added++;
      } catch (error) {
        // Deleted meanwhile (TTL), or written by the service meanwhile (it adds the keys itself): nothing to do.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    startKey = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (startKey);
  return result;
}

async function main() {
  const tableName = process.env.TABLE_NAME?.trim();
  if (!tableName) {
    console.error('Set TABLE_NAME to the tracking table (tencent-task-tracker-<stage>-tasks).');
    process.exit(2);
  }
  const started = Date.now();
  const { scanned, added } = await reindex(new DynamoDBClient({}), tableName);
  console.log(
    `${tableName}: ${added} of ${scanned} records without the identity index's keys given them ` +
      `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    process.exit(1);
  });
}
