import { redact } from './redact';

/**
 * Typed errors shared by every client and function.
 *
 * Each error carries the `code` we answer with, the HTTP status the HTTP functions map it to, and whether a
 * retry may help. Upstream errors keep the upstream `Code` and request id so a failure can be traced at
 * Tencent's side. Every message passes through `redact()` here, so no secret, token or signature text an
 * upstream echoed can reach a response, a log line or a stored `lastError`.
 */

export type Provider = 'lke' | 'smh';

export interface TrackerErrorOptions {
  cause?: unknown;
}

export abstract class TrackerError extends Error {
  /** Stable machine-readable code, sent as `error.code` and used as the Lambda `errorType` on direct invoke. */
  abstract readonly code: string;
  /** HTTP status the HTTP functions answer with. */
  abstract readonly httpStatus: number;
  /** True when trying again later may succeed (throttling, timeouts, 5xx, network). */
  readonly retryable: boolean = false;

  constructor(message: string, options?: TrackerErrorOptions) {
    super(redact(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** Bad input from our caller: answered before any upstream call. */
export class ValidationError extends TrackerError {
  readonly code = 'InvalidParameter';
  readonly httpStatus = 400;
}

/** Something we were asked about does not exist (task unknown upstream, tracked record absent). */
export class NotFoundError extends TrackerError {
  readonly code: string;
  readonly httpStatus = 404;
  constructor(message: string, code = 'NotFound', options?: TrackerErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The service lacks configuration the request needs (credentials, a library secret). */
export class ConfigurationError extends TrackerError {
  readonly code: string;
  readonly httpStatus: number;
  constructor(message: string, code = 'NotConfigured', httpStatus = 500, options?: TrackerErrorOptions) {
    super(message, options);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

export interface UpstreamErrorDetails extends TrackerErrorOptions {
  provider: Provider;
  /** The upstream error code (`Response.Error.Code` for LKE, `code` for SMH), when the upstream sent one. */
  upstreamCode?: string;
  /** The upstream request id, when the upstream sent one. */
  requestId?: string;
  /** The HTTP status the upstream answered with, when it was not a success. */
  upstreamHttpStatus?: number;
}

/** Base of every failure that happened at, or on the way to, Tencent. */
export abstract class UpstreamError extends TrackerError {
  readonly provider: Provider;
  readonly upstreamCode?: string;
  readonly requestId?: string;
  readonly upstreamHttpStatus?: number;

  constructor(message: string, details: UpstreamErrorDetails) {
    super(message, details);
    this.provider = details.provider;
    this.upstreamCode = details.upstreamCode;
    this.requestId = details.requestId;
    this.upstreamHttpStatus = details.upstreamHttpStatus;
  }
}

/** Tencent rejected our credentials or permissions: an operator has to fix configuration. */
export class UpstreamAuthError extends UpstreamError {
  readonly code = 'UpstreamAuthFailure';
  readonly httpStatus = 502;
}

/** Tencent rejected a parameter that passed our own shape checks (e.g. an unknown task type). */
export class UpstreamRejectedError extends UpstreamError {
  readonly code = 'UpstreamRejectedRequest';
  readonly httpStatus = 400;
}

/** Tencent does not know the task (or it is past its retention window), or the library / space it is in. */
export class UpstreamNotFoundError extends UpstreamError {
  readonly code: string;
  readonly httpStatus = 404;
  constructor(message: string, details: UpstreamErrorDetails & { code?: string }) {
    super(message, details);
    this.code = details.code ?? 'TaskNotFound';
  }
}

/** Tencent throttled us (LKE `RequestLimitExceeded*`, SMH 429), or the deployment's share of the quota is booked. */
export class UpstreamThrottledError extends UpstreamError {
  readonly code = 'UpstreamThrottled';
  readonly httpStatus = 503;
  override readonly retryable: boolean = true;
  /** Suggested wait before the caller tries again, in seconds. */
  readonly retryAfterSeconds: number;
  constructor(message: string, details: UpstreamErrorDetails & { retryAfterSeconds?: number }) {
    super(message, details);
    this.retryAfterSeconds = details.retryAfterSeconds ?? 1;
  }
}

/**
 * Our own limit said no: the container's limiter or the deployment's share of the quota (lib/lke/quota.ts) is
 * booked further ahead than an on-demand caller may wait. Answered at once (503, Retry-After) and never retried
 * in the same call: a retry would only wait longer for the same quota.
 */
export class QuotaBusyError extends UpstreamThrottledError {
  override readonly retryable = false;
}

/** The upstream did not answer in time. */
export class UpstreamTimeoutError extends UpstreamError {
  readonly code = 'UpstreamTimeout';
  readonly httpStatus = 504;
  override readonly retryable = true;
}

/** Transient upstream failure: 5xx, `InternalError`, connection refused/reset. */
export class UpstreamUnavailableError extends UpstreamError {
  readonly code = 'UpstreamUnavailable';
  readonly httpStatus = 502;
  override readonly retryable = true;
}

/**
 * The upstream answered something we cannot read (truncated, not JSON, or not the documented shape). Our calls
 * are idempotent reads and such an answer is almost always a network fault: retried like a 5xx, and reported
 * only when it persists.
 */
export class UpstreamBadResponseError extends UpstreamError {
  readonly code = 'UpstreamBadResponse';
  readonly httpStatus = 502;
  override readonly retryable = true;
}

/**
 * The upstream refused us for a reason of the account or the resource, not of the task: suspended, in arrears,
 * a quota used up (LKE `ResourceUnavailable*`, `LimitExceeded*`). Not transient: someone has to act.
 */
export class UpstreamAccountError extends UpstreamError {
  readonly code = 'UpstreamAccountUnavailable';
  readonly httpStatus = 502;
}

/**
 * The upstream says our configuration cannot work (LKE `UnsupportedRegion`, `InvalidAction`, `NoSuchVersion`…):
 * the endpoint or region settings are wrong.
 */
export class UpstreamMisconfiguredError extends UpstreamError {
  readonly code = 'UpstreamMisconfigured';
  readonly httpStatus = 502;
}

/** Any other upstream error code: not retried, reported with the upstream code. */
export class UpstreamFailedError extends UpstreamError {
  readonly code = 'UpstreamError';
  readonly httpStatus = 502;
}

/** The tracking table did not answer in time or at all (after retries within the caller's deadline). */
export class StoreUnavailableError extends TrackerError {
  readonly code = 'StoreUnavailable';
  readonly httpStatus = 503;
  override readonly retryable = true;
  readonly retryAfterSeconds = 5;
  /** True when the table was reachable but did not answer in time (slow), false when it could not be reached. */
  readonly timedOut: boolean;
  constructor(message: string, options?: TrackerErrorOptions & { timedOut?: boolean }) {
    super(message, options);
    this.timedOut = options?.timedOut ?? false;
  }
}

/** The request conflicts with the record's state (e.g. a task already has as many waiters as it can keep). */
export class ConflictError extends TrackerError {
  readonly code: string;
  readonly httpStatus = 409;
  constructor(message: string, code: string, options?: TrackerErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** A bug: the message points at the logs of the invocation, never at the error itself. */
export class InternalError extends TrackerError {
  readonly code = 'InternalError';
  readonly httpStatus = 500;
  constructor(awsRequestId: string) {
    super(`Internal error; the logs of request ${awsRequestId} have the details`);
  }
}

/** The caller's deadline (e.g. the Lambda's remaining time) ran out before an answer. */
export class DeadlineExceededError extends TrackerError {
  readonly code = 'DeadlineExceeded';
  readonly httpStatus = 504;
}

export function isRetryable(error: unknown): boolean {
  return error instanceof TrackerError && error.retryable;
}

/** The JSON body every error answer has: `{"error":{"code","message"}}` plus upstream details when known. */
export interface ErrorBody {
  error: { code: string; message: string; upstreamCode?: string; requestId?: string };
}

export function errorBody(error: TrackerError): ErrorBody {
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  if (error instanceof UpstreamError) {
    if (error.upstreamCode) body.error.upstreamCode = error.upstreamCode;
    if (error.requestId) body.error.requestId = error.requestId;
  }
  return body;
}
