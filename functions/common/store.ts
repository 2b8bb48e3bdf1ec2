import { DynamoDb } from '../../lib/aws/dynamodb';
import { configuredEndpoint } from '../../lib/aws/endpoints';
import { trackingConfig } from '../../lib/config';
import { QuotaTable } from '../../lib/lke/quota-table';
import { TaskStore } from '../../lib/tracking/store';
import { once } from './clients';

/**
 * The container's table client. It goes where the AWS SDKs would (`AWS_ENDPOINT_URL_DYNAMODB`, then
 * `AWS_ENDPOINT_URL`, else the region's DynamoDB) and signs with the credentials in the environment (on AWS, the
 * function's role). `DYNAMODB_ENDPOINT`, this project's older name, is still read when neither is set, with the
 * placeholder keys a local DynamoDB takes.
 */
const tableClient = once(() => {
  const endpoint = configuredEndpoint('DYNAMODB', process.env, 'DYNAMODB_ENDPOINT');
  return endpoint?.legacy ? DynamoDb.local(endpoint.url) : new DynamoDb();
});

export const taskStore = once(
  () => new TaskStore({ client: tableClient(), config: trackingConfig(process.env) }),
);

/** The shared LKE quota's schedule, in the same table over the same client (lib/lke/quota-table.ts). */
export const quotaTable = once(
  () => new QuotaTable({ client: tableClient(), tableName: trackingConfig(process.env).tableName }),
);
