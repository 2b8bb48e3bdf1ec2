import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import httpEventNormalizer from '@middy/http-event-normalizer';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  errorBody,
  InternalError,
  QuotaBusyError,
  TrackerError,
  UpstreamError,
  ValidationError,
} from '../../lib/errors';
import { stringifyJson } from '../../lib/json';
import type { Log } from '../../lib/log';
import { METRIC } from '../../lib/metrics';
import { redact } from '../../lib/redact';
import { deadlineSignal } from '../../lib/upstream';
import type { FunctionMetrics } from './metrics';
import { logger as defaultLogger, withInvocationLog } from './logger';

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
  /** The request path as sent (`rawPath`). */
  path: string;
  pathParameters: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  /** The parsed JSON body, or undefined when there is none. */
  body: unknown;
  /** The request's headers, names lower-cased. */
  headers: Record<string, string | undefined>;
}

export interface Operation<I, O> {
  name: string;
  /** Builds the raw input from an HTTP request (path, query and body); validated by `parse` afterwards. */
  fromHttp(request: HttpInput): unknown;
  /**
   * The query string parameters the route takes (none when absent): any other is refused with a 400 naming it,
   * so a misspelt filter never looks as if it worked. `any`: the operation checks them itself (`apiIndex`,
   * whose catch-all route answers 404 whatever the query).
   */
  query?: readonly string[] | 'any';
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

/**
 * A well-formed API Gateway HTTP API (payload 2.0) event: `version` "2.0", a `routeKey`, and a `requestContext`
 * with an `http.method`. Anything else is a direct invoke, validated as one (a half-HTTP-shaped payload included).
 */
export function isHttpEvent(event: unknown): event is HttpEvent {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return false;
  const candidate = event as Record<string, unknown>;
  const context = candidate.requestContext as Record<string, unknown> | null | undefined;
  const http =
    context !== null && typeof context === 'object' ? (context.http as Record<string, unknown>) : null;
  return (
    candidate.version === '2.0' &&
    typeof candidate.routeKey === 'string' &&
    http !== null &&
    typeof http === 'object' &&
    typeof http.method === 'string'
  );
}

export function invocationFor(context: Context, now = Date.now()): Invocation & { done(): void } {
  const remaining =
    typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 30_000;
  const budget = Math.max(0, remaining - SAFETY_MARGIN_MS);
  // Cleared when the invocation ends (`done`): a pending timer would keep the invocation's context alive.
  const limit = deadlineSignal(budget);
  return {
    deadline: now + budget,
    signal: limit.signal,
    awsRequestId: context.awsRequestId,
    done: limit.clear,
  };
}

/** The chain of causes of an error, each as `name: message` (redacted), for a log line. */
function causes(error: unknown): string[] {
  const chain: string[] = [];
  for (let cause = (error as { cause?: unknown })?.cause; cause && chain.length < 5;) {
    chain.push(redact(`${(cause as Error).name ?? 'Error'}: ${(cause as Error).message ?? String(cause)}`));
    cause = (cause as { cause?: unknown }).cause;
  }
  return chain;
}

/**
 * What a log line says about an error: code, message and causes, redacted; for an unexpected error also where
 * it happened (the first stack frames), since "the logs have the details" must be true. Never a secret, a
 * token or a request body; the caller's answer stays generic.
 */
export function describeError(error: unknown): Record<string, unknown> {
  const cause = causes(error);
  if (error instanceof TrackerError) {
    const described: Record<string, unknown> = { code: error.code, error: error.message };
    if (cause.length > 0) described.cause = cause;
    if (error instanceof UpstreamError) {
      const { upstreamCode, requestId, upstreamHttpStatus } = error;
      Object.assign(described, { upstreamCode, requestId, upstreamHttpStatus });
    }
    return described;
  }
  const { name, message, stack } = (error ?? {}) as Partial<Error>;
  return {
    code: 'InternalError',
    errorName: name ?? typeof error,
    error: redact(String(message ?? error)),
    ...(cause.length > 0 ? { cause } : {}),
    ...(stack ? { where: redact(stack.split('\n').slice(1, 6).join('\n').trim()) } : {}),
  };
}

function logFailure(log: Log, name: string, error: unknown, started: number) {
  const extra = { operation: name, durationMs: Date.now() - started, ...describeError(error) };
  // A refusal of the shared quota (503 with Retry-After) is the answer it should be under load, not a fault.
  if (error instanceof TrackerError && (error.httpStatus < 500 || error instanceof QuotaBusyError))
    log.warn(`${name} rejected`, extra);
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
  log?: Log;
  /** Where this function's metrics go (published once per invocation); none in most tests. */
  metrics?: FunctionMetrics;
  /** Count invocations in `Requests` by status class (the on-demand functions; not the pollers). */
  countRequests?: boolean;
  /** The function's settings, checked before anything else (functions/common/settings.ts). */
  settings?: () => void;
}

export function dualHandler<I, O>(operation: Operation<I, O>, deps: HandlerDeps = {}) {
  const log = deps.log ?? defaultLogger;

  async function execute(raw: () => unknown, context: Context): Promise<O> {
    const started = Date.now();
    const invocation = invocationFor(context, started);
    try {
      deps.settings?.();
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
    } finally {
      invocation.done();
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
              path: event.rawPath ?? '/',
              pathParameters: event.pathParameters ?? {},
              query: queryOf(event, operation.query ?? []),
              body: parseBody(event),
              headers: event.headers ?? {},
            }),
          context,
        );
        return {
          statusCode: operation.httpStatus?.(output) ?? 200,
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
          // Every digit of a number a double does not keep (ExactNumber, lib/json.ts), as a JSON number.
          body: stringifyJson(output),
        };
      } catch (error) {
        throw toHttpError(error as TrackerError);
      }
    });

  const metrics = deps.metrics;
  const count = (status: number) => {
    if (metrics && deps.countRequests !== false)
      metrics.addWith({ statusClass: `${Math.floor(status / 100)}xx` }, METRIC.requests, 'Count', 1);
  };

  const handle = async (event: unknown, context: Context): Promise<HttpResult | O> => {
    try {
      if (isHttpEvent(event)) {
        const response = await http(event as Parameters<typeof http>[0], context);
        count(response.statusCode ?? 200);
        return response;
      }
      try {
        const output = await execute(() => event, context);
        count(200);
        // The runtime serializes it: an ExactNumber as its digits on nodejs22.x (its toJSON, lib/json.ts).
        return output;
      } catch (error) {
        count(error instanceof TrackerError ? error.httpStatus : 500);
        throw toInvokeError(error as TrackerError);
      }
    } finally {
      metrics?.publish();
    }
  };
  return (event: unknown, context: Context) => withInvocationLog(context, () => handle(event, context));
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

/**
 * Direct invoke: Lambda reports `errorType` = the error's name, so the name is our code. The message starts
 * with the code too (`InvalidParameter: …`): serverless-offline reports every error as `errorType: "Error"`, and
 * a local caller can still branch on it.
 */
export function toInvokeError(error: TrackerError): Error {
  const invokeError = new Error(`${error.code}: ${error.message}`);
  invokeError.name = error.code;
  // The runtime returns and logs `stack` as `trace`: keep it to the one line that says what happened.
  invokeError.stack = `${error.code}: ${error.message}`;
  return invokeError;
}

/** Refuses query parameters a route does not take, naming them (at most five, each cut to 64 characters). */
export function refuseUnknown(given: string[], allowed: readonly string[]): void {
  const unknown = given.filter((key) => !allowed.includes(key));
  if (unknown.length === 0) return;
  const named = unknown
    .slice(0, 5)
    .map((key) => JSON.stringify(key.slice(0, 64)))
    .join(', ');
  const more = unknown.length > 5 ? ` and ${unknown.length - 5} more` : '';
  throw new ValidationError(
    `Unknown query parameter${unknown.length > 1 ? 's' : ''} ${named}${more}: ` +
      (allowed.length > 0 ? `this route takes ${allowed.join(', ')}` : 'this route takes none'),
  );
}

/**
 * The query string's parameters. API Gateway joins a repeated parameter's values with commas, which would then be
 * refused for the wrong reason ("must contain digits only"): a repeat is refused by its name instead.
 */
function queryOf(event: HttpEvent, allowed: readonly string[] | 'any'): Record<string, string | undefined> {
  const query = event.queryStringParameters ?? {};
  if (allowed !== 'any') refuseUnknown(Object.keys(query), allowed);
  if (event.rawQueryString) {
    const seen = new Set<string>();
    for (const key of new URLSearchParams(event.rawQueryString).keys()) {
      if (seen.has(key)) {
        throw new ValidationError(
          `${key.slice(0, 64)} is given more than once in the query string; give it once`,
        );
      }
      seen.add(key);
    }
  }
  return query;
}
