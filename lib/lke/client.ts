import { Client as SdkLkeClient } from 'tencentcloud-sdk-nodejs/tencentcloud/services/lke/v20231130/lke_client';
import type {
  GetTaskStatusRequest,
  GetTaskStatusResponse,
} from 'tencentcloud-sdk-nodejs/tencentcloud/services/lke/v20231130/lke_models';
import TencentCloudSDKHttpException from 'tencentcloud-sdk-nodejs/tencentcloud/common/exception/tencent_cloud_sdk_exception';
import type { LkeConfig } from '../config';
import {
  TrackerError,
  UpstreamAuthError,
  UpstreamBadResponseError,
  UpstreamFailedError,
  UpstreamNotFoundError,
  UpstreamRejectedError,
  UpstreamThrottledError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors';
import { silentLog, type Log } from '../log';
import { RateLimiter } from '../rate-limiter';
import { logRetry, withRetry } from '../retry';
import { normalizeLkeStatus, type LkeTaskQuery, type LkeTaskStatus } from '../task';
import type { CredentialProvider, TencentCredential } from '../tencent-credentials';
import { attemptSignal, type CallOptions } from '../upstream';

export interface LkeClientDeps {
  config: LkeConfig;
  credentials: CredentialProvider;
  log?: Log;
  /** Shared per container; defaults to one built from `config.rateLimitPerSecond`. */
  limiter?: RateLimiter;
  now?: () => Date;
}

/**
 * LKE (v20231130) through the official SDK, with what the SDK lacks: a client-side rate limiter under the
 * 20 requests/second quota, retries with capped exponential backoff and jitter for throttling, `InternalError`,
 * 5xx, timeouts and network failures (never for auth or parameter errors), per-attempt timeouts, and typed
 * errors that keep LKE's `Code` and `RequestId`.
 */
export class LkeClient {
  private readonly config: LkeConfig;
  private readonly credentials: CredentialProvider;
  private readonly log: Log;
  private readonly limiter: RateLimiter;
  private readonly now: () => Date;
  private sdk?: { key: string; client: SdkLkeClient };

  constructor(deps: LkeClientDeps) {
    this.config = deps.config;
    this.credentials = deps.credentials;
    this.log = deps.log ?? silentLog;
    this.limiter = deps.limiter ?? new RateLimiter({ limit: deps.config.rateLimitPerSecond });
    this.now = deps.now ?? (() => new Date());
  }

  async getTaskStatus(query: LkeTaskQuery, options: CallOptions = {}): Promise<LkeTaskStatus> {
    const request: GetTaskStatusRequest = {
      TaskId: query.taskId,
      TaskType: query.taskType,
      BotBizId: query.botBizId,
    };
    const response = await this.call<GetTaskStatusResponse>('GetTaskStatus', request, options);
    return toTaskStatus(query, response, this.now());
  }

  private async call<T>(action: string, request: object, options: CallOptions): Promise<T> {
    const client = await this.sdkClient();
    return withRetry(
      async () => {
        await this.limiter.acquire(options);
        return this.attempt<T>(client, action, request, options.signal);
      },
      {
        policy: this.config.retry,
        deadline: options.deadline,
        signal: options.signal,
        onRetry: logRetry(this.log, 'LKE call failed, retrying', { action }),
      },
    );
  }

  private async attempt<T>(client: SdkLkeClient, action: string, request: object, signal?: AbortSignal) {
    const attempt = attemptSignal(this.config.timeoutMs, signal);
    let response: unknown;
    try {
      response = await client.request(action, request, { signal: attempt.signal });
    } catch (error) {
      throw classifyLkeError(error, attempt.timedOut());
    }
    if (response === null || typeof response !== 'object') {
      throw new UpstreamBadResponseError('LKE answered without a Response object', { provider: 'lke' });
    }
    return response as T;
  }

  /** The SDK client bound to the current credential; rebuilt when the credential rotates. */
  private async sdkClient(): Promise<SdkLkeClient> {
    const credential: TencentCredential = await this.credentials();
    const key = `${credential.secretId}\u0000${credential.secretKey}\u0000${credential.token ?? ''}`;
    if (this.sdk?.key !== key) {
      const { endpoint } = this.config;
      this.sdk = {
        key,
        client: new SdkLkeClient({
          credential,
          region: this.config.region,
          profile: {
            httpProfile: {
              endpoint: endpoint.host,
              protocol: `${endpoint.protocol}//`,
              // Our own AbortSignal enforces timeoutMs; the SDK's is only a backstop.
              reqTimeout: Math.ceil(this.config.timeoutMs / 1000) + 1,
            },
          },
        }),
      };
    }
    return this.sdk.client;
  }
}

/** Maps LKE's `Response` onto the normalized model; rejects a body that is not the documented shape. */
export function toTaskStatus(
  query: LkeTaskQuery,
  response: GetTaskStatusResponse,
  checkedAt: Date,
): LkeTaskStatus {
  const { Status, Message, Params, RequestId } = response;
  const requestId = typeof RequestId === 'string' ? RequestId : undefined;
  const bad = (what: string) =>
    new UpstreamBadResponseError(`LKE answer ${what}`, { provider: 'lke', requestId });
  if (Status !== undefined && Status !== null && typeof Status !== 'string')
    throw bad('has a non-string Status');
  if (Message !== undefined && Message !== null && typeof Message !== 'string')
    throw bad('has a non-string Message');
  if (Params !== undefined && Params !== null && typeof Params !== 'object')
    throw bad('has a malformed Params');
  const cosPath = Params?.CosPath;
  if (cosPath !== undefined && cosPath !== null && typeof cosPath !== 'string')
    throw bad('has a malformed CosPath');
  return {
    provider: 'lke',
    taskId: query.taskId,
    taskType: query.taskType,
    botBizId: query.botBizId,
    status: normalizeLkeStatus(Status),
    upstreamStatus: Status ?? null,
    message: Message ?? '',
    result: { cosPath: cosPath ?? null },
    requestId: requestId ?? '',
    checkedAt: checkedAt.toISOString(),
  };
}

/**
 * LKE error codes → our error classes. Cloud API v3 answers every error with HTTP 200 and
 * `Response.Error.Code`, throttling included. The table is the one place to change when Tencent documents more
 * (e.g. what GetTaskStatus answers for an unknown task: we read `ResourceNotFound*` as "no such task").
 */
export function classifyLkeError(error: unknown, timedOut: boolean): Error {
  if (error instanceof TrackerError) return error;
  if (!(error instanceof TencentCloudSDKHttpException)) {
    // The SDK parses the body outside its own try: a non-JSON or shapeless body surfaces as a raw error.
    return new UpstreamBadResponseError('LKE answered with a body that is not a Cloud API v3 response', {
      provider: 'lke',
      cause: error,
    });
  }
  const details = {
    provider: 'lke' as const,
    upstreamCode: error.code,
    requestId: error.requestId || undefined,
  };
  const code = error.code;
  if (!code) {
    if (timedOut) return new UpstreamTimeoutError('LKE did not answer in time', details);
    if (error.httpCode !== undefined) {
      const httpDetails = { ...details, upstreamHttpStatus: error.httpCode };
      return error.httpCode >= 500
        ? new UpstreamUnavailableError(`LKE answered HTTP ${error.httpCode}`, httpDetails)
        : new UpstreamFailedError(`LKE answered HTTP ${error.httpCode}`, httpDetails);
    }
    return new UpstreamUnavailableError(`Could not reach LKE: ${error.message}`, details);
  }
  const message = `LKE ${code}: ${error.message}`;
  if (code.startsWith('RequestLimitExceeded')) return new UpstreamThrottledError(message, details);
  if (code.startsWith('InternalError')) return new UpstreamUnavailableError(message, details);
  if (code.startsWith('AuthFailure') || code.startsWith('UnauthorizedOperation')) {
    return new UpstreamAuthError(message, details);
  }
  if (code.startsWith('ResourceNotFound')) return new UpstreamNotFoundError(message, details);
  if (
    code.startsWith('InvalidParameter') ||
    code.startsWith('MissingParameter') ||
    code.startsWith('UnknownParameter')
  ) {
    return new UpstreamRejectedError(message, details);
  }
  return new UpstreamFailedError(message, details);
}
