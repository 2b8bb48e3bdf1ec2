import { Client as SdkLkeClient } from 'tencentcloud-sdk-nodejs/tencentcloud/services/lke/v20231130/lke_client';
import type {
  GetTaskStatusRequest,
  GetTaskStatusResponse,
} from 'tencentcloud-sdk-nodejs/tencentcloud/services/lke/v20231130/lke_models';
import TencentCloudSDKHttpException from 'tencentcloud-sdk-nodejs/tencentcloud/common/exception/tencent_cloud_sdk_exception';
import type { LkeConfig } from '../config';
import {
  QuotaBusyError,
  TrackerError,
  UpstreamAccountError,
  UpstreamAuthError,
  UpstreamBadResponseError,
  UpstreamError,
  UpstreamFailedError,
  UpstreamMisconfiguredError,
  UpstreamNotFoundError,
  UpstreamRejectedError,
  UpstreamThrottledError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  type UpstreamErrorDetails,
} from '../errors';
import { silentLog, type Log } from '../log';
import { METRIC, recordUpstream, silentMetrics, type Metrics } from '../metrics';
import { RateLimiter } from '../rate-limiter';
import { logRetry, withRetry } from '../retry';
import { normalizeLkeStatus, type LkeTaskQuery, type LkeTaskStatus } from '../task';
import type { CredentialProvider, TencentCredential } from '../tencent-credentials';
import { attemptBudget, deadlineSignal, type CallOptions } from '../upstream';
import { CONNECTION_CUT, cutAwareAgent } from './cut-aware-agent';
import { ON_DEMAND_WAIT_MS, type Priority, type Quota } from './quota';

export interface LkeClientDeps {
  config: LkeConfig;
  credentials: CredentialProvider;
  log?: Log;
  /** Shared per container; defaults to one built from `config.rateLimitPerSecond`. */
  limiter?: RateLimiter;
  /** The deployment-wide quota (lib/lke/quota.ts), after the container's own limiter; none in unit tests. */
  quota?: Quota;
  /** Upstream latency and errors by code, per attempt. */
  metrics?: Metrics;
  now?: () => Date;
  /** Builds the SDK client for a credential (the official SDK by default; the simulation passes a stand-in). */
  sdk?: (credential: TencentCredential) => LkeSdk;
}

/** The one method of the Tencent SDK client we use. */
export interface LkeSdk {
  request(action: string, request: object, options: { signal?: AbortSignal }): Promise<unknown>;
}

/** A call's options, and whose call it is for the shared quota (pollers yield to on-demand callers). */
export type LkeCallOptions = CallOptions & { priority?: Priority };

/** Of an on-demand call's 2 s, what the shared quota needs after the container's limiter (a reservation, a slot). */
const QUOTA_HEADROOM_MS = 150;

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
  private readonly quota?: Quota;
  private readonly metrics: Metrics;
  private readonly now: () => Date;
  private sdk?: { key: string; client: LkeSdk };
  private readonly makeSdk: (credential: TencentCredential) => LkeSdk;

  constructor(deps: LkeClientDeps) {
    this.config = deps.config;
    this.credentials = deps.credentials;
    this.log = deps.log ?? silentLog;
    this.limiter = deps.limiter ?? new RateLimiter({ limit: deps.config.rateLimitPerSecond });
    this.quota = deps.quota;
    this.metrics = deps.metrics ?? silentMetrics;
    this.now = deps.now ?? (() => new Date());
    this.makeSdk = deps.sdk ?? ((credential) => this.officialSdk(credential));
  }

  /** The account's quota, shared by every container (LKE_RATE_LIMIT_PER_SECOND). */
  get rateLimitPerSecond(): number {
    return this.config.rateLimitPerSecond;
  }

  /** Gives back the quota slots this container reserved and will not use (a poller between batches). */
  async releaseQuota(options: CallOptions = {}): Promise<void> {
    await this.quota?.release?.(options);
  }

  async getTaskStatus(query: LkeTaskQuery, options: LkeCallOptions = {}): Promise<LkeTaskStatus> {
    const request: GetTaskStatusRequest = {
      TaskId: query.taskId,
      TaskType: query.taskType,
      BotBizId: query.botBizId,
    };
    return this.call('GetTaskStatus', request, options, (response: GetTaskStatusResponse) =>
      toTaskStatus(query, response, this.now()),
    );
  }

  /** One action with retries; an answer `read` cannot read counts as a failed attempt (and is retried). */
  private async call<R, T>(
    action: string,
    request: object,
    options: LkeCallOptions,
    read: (response: R) => T,
  ): Promise<T> {
    const client = await this.sdkClient();
    return withRetry(
      async () => {
        await this.waitForSlot(options);
        const started = Date.now();
        try {
          const answer = read(await this.attempt<R>(client, action, request, options));
          recordUpstream(this.metrics, started);
          return answer;
        } catch (error) {
          recordUpstream(this.metrics, started, error);
          throw error;
        }
      },
      {
        policy: this.config.retry,
        deadline: options.deadline,
        signal: options.signal,
        onRetry: logRetry(this.log, 'LKE call failed, retrying', { action }),
      },
    );
  }

  /**
   * Waits for a start: the container's limiter first, then the deployment's quota. An on-demand call waits at
   * most ON_DEMAND_WAIT_MS for both together, or is refused at once (QuotaBusyError: 503 with Retry-After, not
   * retried); a poller's call waits as long as its deadline allows. The wait is a metric (QuotaWait*).
   */
  private async waitForSlot(options: LkeCallOptions): Promise<void> {
    const priority = options.priority ?? 'on-demand';
    const since = Date.now();
    try {
      const limiterWait = this.limiter.peek();
      // Refused at once when the container's own queue leaves no time for the quota's reservation and slot: a
      // caller must not wait nearly 2 s only to be refused then.
      if (priority === 'on-demand' && limiterWait > ON_DEMAND_WAIT_MS - QUOTA_HEADROOM_MS) {
        const seconds = Math.max(1, Math.ceil((limiterWait - ON_DEMAND_WAIT_MS + QUOTA_HEADROOM_MS) / 1000));
        throw new QuotaBusyError(
          `This container's LKE calls (${this.config.rateLimitPerSecond}/second) are booked for the next ` +
            `${ON_DEMAND_WAIT_MS / 1000} s; retry after ${seconds} s`,
          { provider: 'lke', retryAfterSeconds: seconds },
        );
      }
      await this.limiter.acquire(options);
      await this.quota?.acquire(priority, options, since);
      await this.limiter.admit(options);
    } finally {
      this.metrics.add(
        priority === 'on-demand' ? METRIC.quotaWaitOnDemand : METRIC.quotaWaitPoll,
        'Milliseconds',
        Date.now() - since,
      );
    }
  }

  private async attempt<T>(client: LkeSdk, action: string, request: object, options: CallOptions) {
    // At most timeoutMs, and never past the caller's deadline (a poller needs the rest to store what it found).
    const attempt = deadlineSignal(attemptBudget(this.config.timeoutMs, options.deadline), options.signal);
    let response: unknown;
    try {
      response = await client.request(action, request, { signal: attempt.signal });
    } catch (error) {
      throw classifyLkeError(error, attempt.timedOut());
    } finally {
      attempt.clear();
    }
    if (response === null || typeof response !== 'object') {
      throw new UpstreamBadResponseError('LKE answered without a Response object', { provider: 'lke' });
    }
    return response as T;
  }

  /** The SDK client bound to the current credential; rebuilt when the credential rotates. */
  private async sdkClient(): Promise<LkeSdk> {
    const credential: TencentCredential = await this.credentials();
    const key = `${credential.secretId}\u0000${credential.secretKey}\u0000${credential.token ?? ''}`;
    if (this.sdk?.key !== key) this.sdk = { key, client: this.makeSdk(credential) };
    return this.sdk.client;
  }

  private officialSdk(credential: TencentCredential): LkeSdk {
    const { endpoint } = this.config;
    return new SdkLkeClient({
      credential,
      region: this.config.region,
      profile: {
        httpProfile: {
          endpoint: endpoint.host,
          protocol: `${endpoint.protocol}//`,
          // Our own AbortSignal ends every attempt at timeoutMs. No second timer in node-fetch: it stays pending
          // after a failed body read (up to its full length), which kept a finished invocation's process alive.
          reqTimeout: 0,
          // Notices a connection cut mid-answer at once (lib/lke/cut-aware-agent.ts). With `http_proxy` set the
          // SDK builds its proxy agent only when given none: there a cut still waits for the attempt's timeout.
          agent: process.env.http_proxy ? undefined : cutAwareAgent(endpoint.protocol),
        },
      },
    });
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

type UpstreamErrorClass = new (message: string, details: UpstreamErrorDetails) => UpstreamError;

/**
 * LKE error codes → our error classes, one row per Tencent Cloud API v3 common code (and its sub-codes, `Code.*`)
 * with a hint where the upstream text alone would not say what to do. Cloud API v3 answers every error with
 * HTTP 200 and `Response.Error.Code`, throttling included. First match wins; an unknown code is UpstreamError.
 * What GetTaskStatus answers for an unknown task is undocumented: we read `ResourceNotFound*` as "no such task",
 * and the poller gives a task up after repeated refusals of any kind (lib/tracking/checkers.ts).
 */
export const LKE_ERROR_TABLE: readonly [code: string, type: UpstreamErrorClass, hint?: string][] = [
  ['RequestLimitExceeded', UpstreamThrottledError],
  ['InternalError', UpstreamUnavailableError],
  ['ServiceUnavailable', UpstreamUnavailableError],
  ['ResourceInsufficient', UpstreamUnavailableError],
  [
    'AuthFailure.SignatureExpire',
    UpstreamAuthError,
    "LKE refused the request as expired: this machine's clock differs from Tencent's by more than 5 minutes. " +
      'Check the system clock (NTP); the credentials are not at fault',
  ],
  ['AuthFailure', UpstreamAuthError],
  ['UnauthorizedOperation', UpstreamAuthError],
  ['IpInBlacklist', UpstreamAuthError, "this caller's IP address is blocked for the account"],
  ['IpNotInWhitelist', UpstreamAuthError, "this caller's IP address is not in the account's allow list"],
  ['ResourceNotFound', UpstreamNotFoundError],
  [
    'ResourceUnavailable',
    UpstreamAccountError,
    'the LKE application or account is unavailable, usually suspended or in arrears: check the LKE console and billing',
  ],
  ['LimitExceeded', UpstreamAccountError, 'a quota of the account is used up: check the LKE console'],
  ['InvalidParameter', UpstreamRejectedError],
  ['InvalidParameterValue', UpstreamRejectedError],
  ['MissingParameter', UpstreamRejectedError],
  ['UnknownParameter', UpstreamRejectedError],
  ['RequestSizeLimitExceeded', UpstreamRejectedError],
  [
    'UnsupportedRegion',
    UpstreamMisconfiguredError,
    'LKE does not serve this region at this endpoint: check LKE_REGION and LKE_ENDPOINT (they go in pairs)',
  ],
  ['InvalidAction', UpstreamMisconfiguredError, 'LKE_ENDPOINT does not serve GetTaskStatus: check it'],
  [
    'NoSuchVersion',
    UpstreamMisconfiguredError,
    'LKE_ENDPOINT does not serve API version 2023-11-30: check it',
  ],
  ['NoSuchProduct', UpstreamMisconfiguredError, 'LKE_ENDPOINT is not an LKE endpoint: check it'],
  ['UnsupportedProtocol', UpstreamMisconfiguredError, 'check the scheme of LKE_ENDPOINT'],
  ['ActionOffline', UpstreamMisconfiguredError, 'Tencent has taken GetTaskStatus offline'],
  ['FailedOperation', UpstreamFailedError],
  ['UnsupportedOperation', UpstreamFailedError],
  ['ResourceInUse', UpstreamFailedError],
  ['ResponseSizeLimitExceeded', UpstreamFailedError],
];

/** Maps a failure of the SDK call to our error classes (see LKE_ERROR_TABLE). */
export function classifyLkeError(error: unknown, timedOut: boolean): Error {
  if (error instanceof TrackerError) return error;
  if (!(error instanceof TencentCloudSDKHttpException)) {
    // The SDK reads the body (`res.json()`) outside its own try: whatever fails there surfaces raw. Our timeout
    // (node-fetch's AbortError) and a cut connection (node-fetch's FetchError of type `system`) are not answers.
    const fetchError: { name?: unknown; type?: unknown; code?: unknown; message?: unknown } =
      typeof error === 'object' && error !== null ? error : {};
    if (timedOut || fetchError.type === 'body-timeout') {
      return new UpstreamTimeoutError('LKE did not answer in time', { provider: 'lke', cause: error });
    }
    if (fetchError.name === 'FetchError' && fetchError.type === 'system') {
      const cut =
        fetchError.code === CONNECTION_CUT || fetchError.code === 'ERR_STREAM_PREMATURE_CLOSE'
          ? 'the connection was cut before the whole answer arrived'
          : String(fetchError.message);
      return new UpstreamUnavailableError(`Could not reach LKE: ${cut}`, { provider: 'lke', cause: error });
    }
    // A body that is not JSON, or JSON without `Response`.
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
  const row = LKE_ERROR_TABLE.find(([known]) => code === known || code.startsWith(`${known}.`));
  const [, Type, hint] = row ?? [code, UpstreamFailedError];
  return new Type(`LKE ${code}: ${hint ? `${hint} (${error.message})` : error.message}`, details);
}
