import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDb, DynamoDbError, tableEndpoint, type TransportRequest } from '../../lib/aws/dynamodb';
import { configuredEndpoint } from '../../lib/aws/endpoints';
import { signRequest } from '../../lib/aws/sigv4';
import { startDynamo, type LocalDynamo } from '../helpers/dynamo';

/** node:crypto behind the hash interface the AWS SDK's signer takes. */
type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data) =>
  typeof data === 'string'
    ? Buffer.from(data)
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);
class Sha256 {
  private readonly hash;
  constructor(secret?: Data) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: Data) {
    this.hash.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

describe('Signature Version 4', () => {
  it("matches AWS's published example (get-vanilla)", () => {
    const headers = signRequest(
      { method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {}, body: '' },
      { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      { region: 'us-east-1', service: 'service' },
      new Date('2015-08-30T12:36:00Z'),
    );
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
        'SignedHeaders=host;x-amz-date, ' +
        'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it("signs a DynamoDB call exactly as the AWS SDK's signer does, session token included", async () => {
    const credentials = {
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret/key+1',
      sessionToken: 'tok/en+=',
    };
    const at = new Date('2026-11-29T20:15:42Z');
    const body = JSON.stringify({ TableName: 't', Key: { id: { S: 'a b/ü' } } });
    const url = new URL('https://dynamodb.eu-west-1.amazonaws.com/');
    const ours = signRequest(
      {
        method: 'POST',
        url,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.GetItem',
          'content-length': String(Buffer.byteLength(body)),
        },
        body,
      },
      credentials,
      { region: 'eu-west-1', service: 'dynamodb' },
      at,
    );
    const sdk = await new SignatureV4({
      service: 'dynamodb',
      region: 'eu-west-1',
      credentials,
      sha256: Sha256,
      applyChecksum: false,
    }).sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: url.hostname,
        path: '/',
        headers: {
          host: url.hostname,
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.GetItem',
          'content-length': String(Buffer.byteLength(body)),
        },
        body,
      },
      { signingDate: at },
    );
    expect(ours.authorization).toBe(sdk.headers.authorization);
    expect(ours['x-amz-security-token']).toBe('tok/en+=');
  });
});

describe('Signature Version 4, where our own signer was wrong', () => {
  it('orders a query by key, one key a prefix of another, as the AWS SDK does', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
    const at = new Date('2026-12-01T00:00:00Z');
    const url = new URL('https://example.amazonaws.com/path?a-b=2&a=1&b=%2F');
    const ours = signRequest(
      { method: 'GET', url, headers: {}, body: '' },
      credentials,
      {
        region: 'us-east-1',
        service: 'service',
      },
      at,
    );
    const sdk = await new SignatureV4({
      service: 'service',
      region: 'us-east-1',
      credentials,
      sha256: Sha256,
      applyChecksum: false,
    }).sign(
      {
        method: 'GET',
        protocol: 'https:',
        hostname: url.hostname,
        path: url.pathname,
        query: { 'a-b': '2', a: '1', b: '/' },
        headers: { host: url.hostname },
      },
      { signingDate: at },
    );
    expect(ours.authorization).toBe(sdk.headers.authorization);
  });
});

describe('where the table client sends (AWS endpoint settings, the China partition)', () => {
  it('takes AWS_ENDPOINT_URL_DYNAMODB, then AWS_ENDPOINT_URL, unless told to ignore them, else the region host', () => {
    const both = { AWS_ENDPOINT_URL_DYNAMODB: 'http://ddb:8000', AWS_ENDPOINT_URL: 'http://all:4566' };
    expect(tableEndpoint('eu-west-1', both)).toBe('http://ddb:8000');
    expect(tableEndpoint('eu-west-1', { AWS_ENDPOINT_URL: 'http://all:4566' })).toBe('http://all:4566');
    expect(tableEndpoint('eu-west-1', { ...both, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBe(
      'https://dynamodb.eu-west-1.amazonaws.com',
    );
    expect(tableEndpoint('cn-north-1', {})).toBe('https://dynamodb.cn-north-1.amazonaws.com.cn');
    expect(tableEndpoint('cn-northwest-1', {})).toBe('https://dynamodb.cn-northwest-1.amazonaws.com.cn');
  });

  it("reads the project's older endpoint names only where no standard one is set, and never when told to ignore them", () => {
    const legacy = { DYNAMODB_ENDPOINT: 'http://old:8000' };
    expect(configuredEndpoint('DYNAMODB', legacy, 'DYNAMODB_ENDPOINT')).toEqual({
      url: 'http://old:8000',
      legacy: true,
    });
    expect(
      configuredEndpoint('DYNAMODB', { ...legacy, AWS_ENDPOINT_URL: 'http://all:4566' }, 'DYNAMODB_ENDPOINT'),
    ).toEqual({ url: 'http://all:4566', legacy: false });
    expect(
      configuredEndpoint('SFN', { AWS_ENDPOINT_URL_SFN: 'http://sfn:1', AWS_ENDPOINT_URL: 'http://all:2' }),
    ).toEqual({ url: 'http://sfn:1', legacy: false });
    expect(
      configuredEndpoint(
        'EVENTBRIDGE',
        { EVENTBRIDGE_ENDPOINT: 'http://old:1', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'TRUE' },
        'EVENTBRIDGE_ENDPOINT',
      ),
    ).toBeUndefined();
    // A legacy variable never redirects the table client itself (it is read where a local table is meant).
    expect(tableEndpoint('eu-west-1', legacy)).toBe('https://dynamodb.eu-west-1.amazonaws.com');
  });

  it('signs for a China region on its own host, as the AWS SDK signs it', async () => {
    const credentials = { accessKeyId: 'ASIACN', secretAccessKey: 'cn-secret', sessionToken: 'cn-token' };
    let sent: TransportRequest | undefined;
    const client = new DynamoDb({
      region: 'cn-north-1',
      credentials,
      transport: async (request) => {
        sent = request;
        return { status: 200, body: '{}' };
      },
    });
    await client.send('GetItem', { TableName: 't', Key: { id: 'x' } });
    const request = sent as TransportRequest;
    expect(request.url.host).toBe('dynamodb.cn-north-1.amazonaws.com.cn');
    expect(request.headers.authorization).toMatch(
      /Credential=ASIACN\/\d{8}\/cn-north-1\/dynamodb\/aws4_request/,
    );
    const at = new Date(
      request.headers['x-amz-date']!.replace(
        /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/,
        '$1-$2-$3T$4:$5:$6Z',
      ),
    );
    const { authorization: _a, ...signedHeaders } = request.headers;
    const sdk = await new SignatureV4({
      service: 'dynamodb',
      region: 'cn-north-1',
      credentials,
      sha256: Sha256,
      applyChecksum: false,
    }).sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: request.url.hostname,
        path: '/',
        headers: Object.fromEntries(
          Object.entries(signedHeaders).filter(
            ([name]) => name !== 'x-amz-date' && name !== 'x-amz-security-token',
          ),
        ),
        body: request.body,
      },
      { signingDate: at },
    );
    expect(request.headers.authorization).toBe(sdk.headers.authorization);
  });
});

describe('the table client (lib/aws/dynamodb.ts)', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynamo('client-test');
  });
  afterAll(() => dynamo.close());

  it('reads and writes plain values, and names the errors as DynamoDB does', async () => {
    const item = { id: 'x', n: 5, nested: { list: [1, 'two', null], flag: true }, gone: undefined };
    await dynamo.table.send('PutItem', { TableName: 'client-test', Item: item });
    const { Item } = await dynamo.table.send<{ Item?: unknown }>('GetItem', {
      TableName: 'client-test',
      Key: { id: 'x' },
      ConsistentRead: true,
    });
    expect(Item).toEqual({ id: 'x', n: 5, nested: { list: [1, 'two', null], flag: true } });
    const refused = dynamo.table.send('PutItem', {
      TableName: 'client-test',
      Item: { id: 'x' },
      ConditionExpression: 'attribute_not_exists(id)',
    });
    await expect(refused).rejects.toMatchObject({
      name: 'ConditionalCheckFailedException',
      retryable: false,
    });
  });

  /** A DynamoDB stand-in that answers from a script, one entry per request. */
  async function scripted(script: ((res: ServerResponse, req: IncomingMessage) => void)[]) {
    let calls = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => (script[calls++] ?? script.at(-1)!)(res, req));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new DynamoDb({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      attemptTimeoutMs: 300,
      maxAttempts: 4,
    });
    return {
      client,
      calls: () => calls,
      close: () => {
        client.destroy();
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }
  const answer = (status: number, body: unknown) => (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  it('retries throttling, 5xx, unreadable answers and timeouts, then answers', async () => {
    const stand = await scripted([
      answer(400, { __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException', message: 'slow down' }),
      answer(500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'oops' }),
      answer(200, '{"Item":'),
      answer(200, { Item: { id: { S: 'ok' } } }),
    ]);
    try {
      const out = await stand.client.send<{ Item: unknown }>('GetItem', {
        TableName: 't',
        Key: { id: 'ok' },
      });
      expect(out.Item).toEqual({ id: 'ok' });
      expect(stand.calls()).toBe(4);
    } finally {
      await stand.close();
    }
    const silent = await scripted([() => undefined]); // never answers
    try {
      const started = Date.now();
      await expect(silent.client.send('GetItem', { TableName: 't', Key: { id: 'a' } })).rejects.toMatchObject(
        {
          name: 'TimeoutError',
        },
      );
      expect(silent.calls()).toBe(4);
      expect(Date.now() - started).toBeLessThan(4 * 300 + 1500);
    } finally {
      await silent.close();
    }
  });

  it('does not retry what will not change (a refused request), and stops at once when the caller aborts', async () => {
    const stand = await scripted([
      answer(400, { __type: 'com.amazon.coral.validate#ValidationException', message: 'bad key' }),
    ]);
    try {
      const error = await stand.client
        .send('GetItem', { TableName: 't', Key: { id: 'a' } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DynamoDbError);
      expect(error).toMatchObject({ name: 'ValidationException', message: 'bad key', statusCode: 400 });
      expect(stand.calls()).toBe(1);
    } finally {
      await stand.close();
    }
    const silent = await scripted([() => undefined]);
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const started = Date.now();
      await expect(
        silent.client.send('GetItem', { TableName: 't', Key: { id: 'a' } }, { signal: controller.signal }),
      ).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeLessThan(250);
      expect(silent.calls()).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it('refuses a call whose time is already up without a request (and without an unheard socket error)', async () => {
    const silent = await scripted([() => undefined]);
    try {
      const controller = new AbortController();
      controller.abort();
      await expect(
        silent.client.send('GetItem', { TableName: 't', Key: { id: 'a' } }, { signal: controller.signal }),
      ).rejects.toMatchObject({ name: 'AbortError' });
      await new Promise((resolve) => setTimeout(resolve, 100)); // an unheard 'error' would surface here
      expect(silent.calls()).toBe(0);
    } finally {
      await silent.close();
    }
  });

  it('signs with the role credentials the Lambda runtime puts in the environment', async () => {
    let seen: IncomingMessage | undefined;
    const server = createServer((req, res) => {
      seen = req;
      req.resume();
      answer(200, {})(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'ASIAROLE',
      AWS_SECRET_ACCESS_KEY: 'role-secret',
      AWS_SESSION_TOKEN: 'role-token',
      AWS_REGION: 'ap-southeast-1',
    });
    const client = new DynamoDb({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    try {
      await client.send('GetItem', { TableName: 't', Key: { id: 'a' } });
      expect(seen?.headers['x-amz-security-token']).toBe('role-token');
      expect(seen?.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=ASIAROLE\/\d{8}\/ap-southeast-1\/dynamodb\//,
      );
      expect(seen?.headers['x-amz-target']).toBe('DynamoDB_20120810.GetItem');
    } finally {
      process.env = saved;
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
