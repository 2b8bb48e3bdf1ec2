import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import httpEventNormalizer from '@middy/http-event-normalizer';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { errorBody, InternalError, TrackerError, UpstreamError, ValidationError } from '../../lib/errors';
import type { Log } from '../../lib/log';
import { logger as defaultLogger } from './logger';

/**
 * One function, two doors: an API Gateway HTTP API event gets the middy HTTP stack and a JSON answer with a
 * status code; any other event is a direct invoke (Lambda Invoke, Step Functions) and gets the bare result, or
 * an error whose `errorType` is our error code, so a state machine can `Catch`/`Retry` on it.
 *
 * The operation itself knows nothing of AWS events: it gets raw input, validates it with lib code, runs with
 * a deadline derived from the Lambda's remaining time, and returns plain data.
 */

/** Time kept back from the Lambda timeout to answer cleanly instead of being killed mid-call. */
const SAFETY_MARGIN_MS = 500;

export interface Invocation {
  /** Epoch ms by which the operation must have answered. */
  deadline: number;
  /** Aborts at the deadline; pass it to upstream calls. */
  signal: AbortSignal;
  awsRequestId: string;
}

export interface HttpInput {
  method: string;
  pathParameters: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  /** The parsed JSON body, or undefined when there is none. */
  body: unknown;
}

export interface Operation<I, O> {
  name: string;
  /** Builds the raw input from an HTTP request (path, query and body); validated by `parse` afterwards. */
  fromHttp(request: HttpInput): unknown;
  /** Validates raw input (throws ValidationError); runs before anything leaves the process. */
  parse(input: unknown): I;
  run(input: I, invocation: Invocation): Promise<O>;
  /** HTTP status for a successful result (default 200). */
  httpStatus?(output: O): number;
  /** Fields worth a log line about a result. */
  summarize?(output: O): Record<string, unknown>;
}

type HttpEvent = APIGatewayProxyEventV2;
type HttpResult = APIGatewayProxyStructuredResultV2;

export function isHttpEvent(event: unknown): event is HttpEvent {
  if (event === null || typeof event !== 'object') return false;
  const candidate = event as Record<string, unknown>;
  return (
    typeof candidate.requestContext === 'object' && ('routeKey' in candidate || 'httpMethod' in candidate)
  );
}

export function invocationFor(context: Context, now = Date.now()): Invocation {
  const remaining =
    typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 30_000;
  const budget = Math.max(0, remaining - SAFETY_MARGIN_MS);
  return { deadline: now + budget, signal: AbortSignal.timeout(budget), awsRequestId: context.awsRequestId };
}

/** What a log line may say about an error: code and message, never a stack, a secret or a request body. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof TrackerError) {
    const described: Record<string, unknown> = { code: error.code, error: error.message };
    if (error instanceof UpstreamError) {
      const { upstreamCode, requestId, upstreamHttpStatus } = error;
      Object.assign(described, { upstreamCode, requestId, upstreamHttpStatus });
    }
    return described;
  }
  return { code: 'InternalError', errorName: (error as Error)?.name ?? typeof error };
}

function logFailure(log: Log, name: string, error: unknown, started: number) {
  const extra = { operation: name, durationMs: Date.now() - started, ...describeError(error) };
  if (error instanceof TrackerError && error.httpStatus < 500) log.warn(`${name} rejected`, extra);
  else log.error(`${name} failed`, extra);
}

function parseBody(event: HttpEvent): unknown {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('The request body must be valid JSON');
  }
}

export interface HandlerDeps {
  log?: Log & { addContext?(context: Context): void };
}

export function dualHandler<I, O>(operation: Operation<I, O>, deps: HandlerDeps = {}) {
  const log = deps.log ?? defaultLogger;

  async function execute(raw: () => unknown, context: Context): Promise<O> {
    const started = Date.now();
    const invocation = invocationFor(context, started);
    try {
      const input = operation.parse(raw());
      const output = await operation.run(input, invocation);
      log.info(`${operation.name} done`, {
        operation: operation.name,
        durationMs: Date.now() - started,
        ...operation.summarize?.(output),
      });
      return output;
    } catch (error) {
      logFailure(log, operation.name, error, started);
      throw error instanceof TrackerError ? error : new InternalError(context.awsRequestId);
    }
  }

  const http = middy<HttpEvent, HttpResult>()
    .use(httpHeaderNormalizer())
    .use(httpEventNormalizer())
    .use(
      httpErrorHandler({
        logger: false,
        fallbackMessage: JSON.stringify({ error: { code: 'InternalError', message: 'Internal error' } }),
      }),
    )
    .handler(async (event, context) => {
      try {
        const output = await execute(
          () =>
            operation.fromHttp({
              method: event.requestContext.http?.method ?? 'GET',
              pathParameters: event.pathParameters ?? {},
              query: event.queryStringParameters ?? {},
              body: parseBody(event),
            }),
          context,
        );
        return {
          statusCode: operation.httpStatus?.(output) ?? 200,
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
          body: JSON.stringify(output),
        };
      } catch (error) {
        throw toHttpError(error as TrackerError);
      }
    });

  return async (event: unknown, context: Context): Promise<HttpResult | O> => {
    log.addContext?.(context);
    if (isHttpEvent(event)) return http(event as Parameters<typeof http>[0], context);
    try {
      return await execute(() => event, context);
    } catch (error) {
      throw toInvokeError(error as TrackerError);
    }
  };
}

/** The shape @middy/http-error-handler turns into a response: JSON body, status, and Retry-After when known. */
export function toHttpError(error: TrackerError) {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  const retryAfter = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retryAfter !== undefined) headers['Retry-After'] = String(retryAfter);
  return Object.assign(new Error(error.message), {
    statusCode: error.httpStatus,
    expose: true,
    message: JSON.stringify(errorBody(error)),
    headers,
  });
}

/** Direct invoke: Lambda reports `errorType` = the error's name, so the name is our code. */
export function toInvokeError(error: TrackerError): Error {
  const invokeError = new Error(error.message);
  invokeError.name = error.code;
  // The runtime returns and logs `stack` as `trace`: keep it to the one line that says what happened.
  invokeError.stack = `${error.code}: ${error.message}`;
  return invokeError;
}
