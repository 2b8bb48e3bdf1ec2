/**
 * The naive build `npm run bench` compares every function with: the usual first implementation, the
 * tencentcloud SDK from its package root and the DynamoDB DocumentClient, bundled and minified the same way
 * (@aws-sdk resolved outside the bundle, as on Lambda). Never deployed.
 */
import * as tencentcloud from 'tencentcloud-sdk-nodejs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

export const handler = async () => ({ ok: typeof tencentcloud.lke === 'object' && documents !== undefined });
