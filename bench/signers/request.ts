/** One DynamoDB GetItem, as the table client signs it. */
export const REQUEST = {
  request: {
    method: 'POST',
    url: new URL('https://dynamodb.us-east-1.amazonaws.com/'),
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
    body: JSON.stringify({ TableName: 't', Key: { id: { S: 'a' } } }),
  },
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' },
  scope: { region: 'us-east-1', service: 'dynamodb' },
};
