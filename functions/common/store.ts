import { DynamoDb } from '../../lib/aws/dynamodb';
import { trackingConfig } from '../../lib/config';
import { TaskStore } from '../../lib/tracking/store';
import { once } from './clients';

/**
 * The container's tracking store. `DYNAMODB_ENDPOINT` points it at a local DynamoDB (dynalite under
 * `npm start`), with placeholder credentials since dynalite checks none; on AWS the function's role signs.
 */
export const taskStore = once(() => {
  const endpoint = process.env.DYNAMODB_ENDPOINT?.trim();
  const client = endpoint ? DynamoDb.local(endpoint) : new DynamoDb();
  return new TaskStore({ client, config: trackingConfig(process.env) });
});
