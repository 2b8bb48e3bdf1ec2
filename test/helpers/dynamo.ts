import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { AddressInfo } from 'node:net';
import { DynamoDb } from '../../lib/aws/dynamodb';
import { trackingConfig, type TrackingConfig } from '../../lib/config';
import { TaskStore } from '../../lib/tracking/store';
import { createTableInput } from '../../lib/tracking/table';

// dynalite ships no types; it is a function returning a node http.Server.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: Record<string, unknown>) => import('node:http').Server;

export interface LocalDynamo {
  endpoint: string;
  /** The AWS SDK's client, for set-up and for reading the table independently of the store. */
  client: DynamoDBClient;
  /** The store's own client (lib/aws/dynamodb.ts). */
  table: DynamoDb;
  close(): Promise<void>;
}

/** An in-memory dynalite on a free loopback port, with the tracking table created from lib/tracking/table.ts. */
export async function startDynamo(tableName = 'tasks-test'): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(new CreateTableCommand(createTableInput(tableName)));
  const table = DynamoDb.local(endpoint);
  return {
    endpoint,
    client,
    table,
    close: async () => {
      client.destroy();
      table.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A controllable clock that starts at the real time and only moves forward. */
export function testClock(start = Date.now()) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
      return now;
    },
    set: (ms: number) => {
      now = Math.max(now, ms);
    },
  };
}

export function testConfig(overrides: Record<string, string> = {}): TrackingConfig {
  return trackingConfig({ TABLE_NAME: 'tasks-test', POLL_FIRST_DELAY_SECONDS: '0', ...overrides });
}

export function storeFor(
  dynamo: LocalDynamo,
  clock: { now: () => number },
  overrides: Record<string, string> = {},
) {
  return new TaskStore({ client: dynamo.table, config: testConfig(overrides), now: clock.now });
}
