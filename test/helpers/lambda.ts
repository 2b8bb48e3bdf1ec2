import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/** A Lambda context as the runtime passes it (only the fields our handlers read are meaningful). */
export function lambdaContext(remainingMs = 10_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    awsRequestId: `test-${Math.random().toString(16).slice(2)}`,
    functionName: 'test-function',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test-function',
    memoryLimitInMB: '256',
    logGroupName: '/aws/lambda/test-function',
    logStreamName: 'test',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** An API Gateway HTTP API (payload v2) event, as API Gateway and serverless-offline send it. */
export function httpEvent(
  method: string,
  path: string,
  options: {
    pathParameters?: Record<string, string>;
    query?: Record<string, string>;
    body?: unknown;
    routeKey?: string;
  } = {},
): APIGatewayProxyEventV2 {
  const rawQueryString = new URLSearchParams(options.query ?? {}).toString();
  return {
    version: '2.0',
    routeKey: options.routeKey ?? `${method} ${path}`,
    rawPath: path,
    rawQueryString,
    headers: { host: 'localhost:3000', 'content-type': 'application/json' },
    queryStringParameters: options.query,
    pathParameters: options.pathParameters,
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body),
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'jest' },
      requestId: 'req',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '25/Nov/2026:00:00:00 +0000',
      timeEpoch: Date.now(),
    },
  };
}
