import { DynamoDb } from '../../lib/aws/dynamodb';
import { trackingConfig } from '../../lib/config';
import { QuotaTable } from '../../lib/lke/quota-table';
import { TaskStore } from '../../lib/tracking/store';
import { once } from './clients';

/**
 * The container's tracking store. `DYNAMODB_ENDPOINT` points it at a local DynamoDB (dynalite under
 * `npm start`), with placeholder credentials since dynalite checks none; on AWS the function's role signs.
 */
const tableClient = once(() => {
  const endpoint = process.env.DYNAMODB_ENDPOINT?.trim();
  return endpoint ? DynamoDb.local(endpoint) : new DynamoDb();
});

export const taskStore = once(
  () => new TaskStore({ client: tableClient(), config: trackingConfig(process.env) }),
);

/** The shared LKE quota's schedule, in the same table over the same client (lib/lke/quota-table.ts). */
export const quotaTable = once(
  () => new QuotaTable({ client: tableClient(), tableName: trackingConfig(process.env).tableName }),
);
