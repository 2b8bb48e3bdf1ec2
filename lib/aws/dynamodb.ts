import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { sleep, withRetry } from '../retry';
import { deadlineSignal } from '../upstream';
import { marshallItem, unmarshallItem } from './attribute-values';
import { configuredEndpoint, dnsSuffix } from './endpoints';
import { environmentCredentials, signRequest, type AwsCredentials } from './sigv4';

/**
 * A small DynamoDB client for the four operations the tracking table needs (GetItem, PutItem, UpdateItem,
 * Query), in the DocumentClient's terms: plain values in and out, marshalled by `./attribute-values` (numbers a
 * double does not keep travel as `ExactNumber`, with every digit; what DynamoDB cannot store is refused before
 * any request, as a `ValidationException`).
 *
 * Why not the AWS SDK's DynamoDBClient and DocumentClient: loading and constructing them takes 130–145 ms of
 * every cold start (measured by `npm run bench`); this client takes a few. It speaks the same wire protocol (AWS
 * JSON 1.0, Signature Version 4) with the same limits the store had configured on the SDK: a connection within
 * `connectTimeoutMs`, an answer within `attemptTimeoutMs`, `maxAttempts` tries with full-jitter backoff for
 * throttling, 5xx and network faults, all cut short by the caller's signal. Errors keep DynamoDB's names
 * (`ConditionalCheckFailedException`, `ValidationException`, …).
 */
export type TableOperation = 'GetItem' | 'PutItem' | 'UpdateItem' | 'Query';

export interface DynamoDbOptions {
  /** Where requests go; by default as the AWS SDKs resolve it (`tableEndpoint`). */
  endpoint?: string;
  region?: string;
  /** Fixed credentials; by default the role's, from the environment the Lambda runtime sets. */
  credentials?: AwsCredentials;
  maxAttempts?: number;
  connectTimeoutMs?: number;
  attemptTimeoutMs?: number;
  /** How requests travel (Node's https by default). */
  transport?: TableTransport;
}

/**
 * DynamoDB's endpoint as the AWS SDKs and the CLI resolve it: a configured one (`configuredEndpoint`), else the
 * region's own host, in its partition (`amazonaws.com.cn` for the China regions).
 */
export function tableEndpoint(region: string, env: Record<string, string | undefined> = process.env): string {
  return configuredEndpoint('DYNAMODB', env)?.url ?? `https://dynamodb.${region}.${dnsSuffix(region)}`;
}

/** An error DynamoDB answered, under its own name, or a fault on the way (`NetworkError`, `TimeoutError`). */
export class DynamoDbError extends Error {
  constructor(
    name: string,
    message: string,
    readonly statusCode: number | undefined,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = name;
  }
}

/** The store's limits: a connection within 1 s, an answer within 3 s per attempt, 3 attempts. */
export const TABLE_CLIENT_DEFAULTS = { maxAttempts: 3, connectTimeoutMs: 1000, attemptTimeoutMs: 3000 };
/** Waits between attempts: the AWS SDK's standard curve (100 ms doubling, full jitter, at most 20 s). */
const RETRY_DELAYS = { baseDelayMs: 100, maxDelayMs: 20_000 };

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);
const INPUT_VALUES = ['Item', 'Key', 'ExpressionAttributeValues', 'ExclusiveStartKey'] as const;

export class DynamoDb {
  private readonly url: URL;
  private readonly region: string;
  private readonly limits: typeof TABLE_CLIENT_DEFAULTS;
  private readonly agent: HttpAgent;
  private readonly transport: TableTransport;

  constructor(private readonly options: DynamoDbOptions = {}) {
    this.region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    this.url = new URL(options.endpoint ?? tableEndpoint(this.region));
    this.limits = {
      maxAttempts: options.maxAttempts ?? TABLE_CLIENT_DEFAULTS.maxAttempts,
      connectTimeoutMs: options.connectTimeoutMs ?? TABLE_CLIENT_DEFAULTS.connectTimeoutMs,
      attemptTimeoutMs: options.attemptTimeoutMs ?? TABLE_CLIENT_DEFAULTS.attemptTimeoutMs,
    };
    const agentOptions = { keepAlive: true, maxSockets: 50 };
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.transport = options.transport ?? httpTransport(this.agent, this.limits.connectTimeoutMs);
  }

  /** One operation, with retries; `input` and the answer in plain values (as the DocumentClient has them). */
  async send<T extends Record<string, unknown>>(
    operation: TableOperation,
    input: Record<string, unknown>,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const wire: Record<string, unknown> = { ...input };
    for (const name of INPUT_VALUES) {
      if (wire[name] !== undefined) wire[name] = marshallItem(wire[name] as Record<string, unknown>);
    }
    // Attribute values carry numbers as strings: nothing here needs more than JSON.stringify.
    const body = JSON.stringify(wire);
    const { signal } = options;
    const raw = await withRetry(() => this.attempt(operation, body, signal), {
      policy: { maxAttempts: this.limits.maxAttempts, ...RETRY_DELAYS },
      // An attempt after the caller gave up is refused as an AbortError (never retried) by `attempt` itself.
      shouldRetry: (error) => error instanceof DynamoDbError && error.retryable && !signal?.aborted,
      sleep: (ms) => sleep(ms, signal),
    });
    return unmarshallOutput(raw) as T;
  }

  /** A client for a local DynamoDB (dynalite, a test proxy), which checks no signature: placeholder keys. */
  static local(endpoint: string, options: Omit<DynamoDbOptions, 'endpoint' | 'credentials'> = {}): DynamoDb {
    return new DynamoDb({
      ...options,
      endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }

  destroy(): void {
    this.agent.destroy();
  }

  private credentials(): AwsCredentials {
    const credentials = this.options.credentials ?? environmentCredentials();
    if (!credentials) {
      throw new DynamoDbError(
        'CredentialsError',
        'No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the Lambda runtime sets them)',
        undefined,
        false,
      );
    }
    return credentials;
  }

  private async attempt(operation: TableOperation, body: string, signal?: AbortSignal) {
    if (signal?.aborted) {
      throw new DynamoDbError('AbortError', 'The call to DynamoDB was cut short', undefined, false);
    }
    const headers = signRequest(
      {
        method: 'POST',
        url: this.url,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': `DynamoDB_20120810.${operation}`,
        },
        body,
      },
      this.credentials(),
      { region: this.region, service: 'dynamodb' },
    );
    // One attempt: an answer within attemptTimeoutMs, cut short by the caller's signal.
    const limit = deadlineSignal(this.limits.attemptTimeoutMs, signal);
    let answer: TransportAnswer;
    try {
      answer = await this.transport({ url: this.url, operation, headers, body, signal: limit.signal });
    } catch (error) {
      if (signal?.aborted)
        throw new DynamoDbError('AbortError', 'The call to DynamoDB was cut short', undefined, false);
      if (limit.signal.aborted)
        throw new DynamoDbError(
          'TimeoutError',
          `DynamoDB gave no answer within ${this.limits.attemptTimeoutMs} ms`,
          undefined,
          true,
        );
      if (error instanceof DynamoDbError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new DynamoDbError('NetworkError', `DynamoDB could not be reached (${code})`, undefined, true, {
        cause: error,
      });
    } finally {
      limit.clear();
    }
    return readAnswer(answer);
  }
}

/** One request as a transport sends it: signed headers, the JSON body, a signal that ends the attempt. */
export interface TransportRequest {
  url: URL;
  operation: TableOperation;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

/** The HTTP status and body of DynamoDB's answer. */
export interface TransportAnswer {
  status: number;
  body: string;
}

/**
 * Carries one request to DynamoDB and brings its answer back; rejects on a network fault or when the signal
 * aborts. The default is Node's https over a keep-alive agent; the simulation (test/sim) passes its own.
 */
export type TableTransport = (request: TransportRequest) => Promise<TransportAnswer>;

/** Node's http(s), with a connection within `connectTimeoutMs`. */
export function httpTransport(agent: HttpAgent, connectTimeoutMs: number): TableTransport {
  return ({ url, headers, body, signal }) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<TransportAnswer>((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error, answer?: TransportAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        signal.removeEventListener('abort', onAbort);
        if (error) {
          req.destroy();
          reject(error);
        } else resolve(answer as TransportAnswer);
      };
      const req = send(url, {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      // First of all: a request destroyed for any reason below emits 'error', which must never go unheard.
      req.on('error', (error) => finish(error));
      const connectTimer = setTimeout(
        () =>
          finish(
            new DynamoDbError(
              'TimeoutError',
              `DynamoDB accepted no connection within ${connectTimeoutMs} ms`,
              undefined,
              true,
            ),
          ),
        connectTimeoutMs,
      );
      req.on('socket', (socket) => {
        if (!socket.connecting) clearTimeout(connectTimer);
        else socket.once('connect', () => clearTimeout(connectTimer));
      });
      const onAbort = () => finish(new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => finish(error));
        res.on('aborted', () => finish(new Error('the answer broke off')));
        res.on('end', () =>
          finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      req.end(body);
    });
  };
}

/** DynamoDB's answer: the parsed body, or the error it names (retryable when throttled or 5xx). */
function readAnswer({ status, body }: TransportAnswer): Record<string, unknown> {
  let parsed: Record<string, unknown> = {};
  try {
    parsed = body ? (JSON.parse(body) as Record<string, unknown>) : {};
  } catch {
    throw new DynamoDbError(
      'NetworkError',
      `DynamoDB answered ${status} with an unreadable body`,
      status,
      true,
    );
  }
  if (status >= 200 && status < 300) return parsed;
  const type = String(parsed.__type ?? `Http${status}`);
  const name = type.slice(type.lastIndexOf('#') + 1);
  const message = String(parsed.message ?? parsed.Message ?? `DynamoDB answered ${status}`);
  throw new DynamoDbError(name, message, status, status >= 500 || THROTTLING.has(name));
}

function unmarshallOutput(raw: Record<string, unknown>): Record<string, unknown> {
  const output: Record<string, unknown> = { ...raw };
  const one = (value: unknown) => unmarshallItem(value as Record<string, AttributeValue>);
  for (const name of ['Item', 'Attributes', 'LastEvaluatedKey'] as const) {
    if (raw[name] !== undefined) output[name] = one(raw[name]);
  }
  if (Array.isArray(raw.Items)) output.Items = raw.Items.map(one);
  return output;
}
