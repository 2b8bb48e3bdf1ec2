import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { trackingConfig } from '../../lib/config';
import { TaskStore } from '../../lib/tracking/store';
import { once } from './clients';

/**
 * The container's tracking store. `DYNAMODB_ENDPOINT` points it at a local DynamoDB (dynalite under
 * `npm start`), with placeholder credentials since dynalite checks none.
 */
export const taskStore = once(() => {
  const endpoint = process.env.DYNAMODB_ENDPOINT?.trim();
  const client = endpoint
    ? new DynamoDBClient({
        endpoint,
        region: process.env.AWS_REGION ?? 'local',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      })
    : new DynamoDBClient({});
  return new TaskStore({ client, config: trackingConfig(process.env) });
});
