import type { SmhConfig } from '../config';
import { chunk, mapLimit } from '../concurrency';
import {
  isRetryable,
  UpstreamAuthError,
  UpstreamBadResponseError,
  UpstreamFailedError,
  UpstreamNotFoundError,
  UpstreamRejectedError,
  UpstreamThrottledError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  type UpstreamErrorDetails,
} from '../errors';
import { ExactNumber, parseJson } from '../json';
import { silentLog, type Log } from '../log';
import { recordUpstream, silentMetrics, type Metrics } from '../metrics';
import { redact, redactUrl, registerSecret } from '../redact';
import { logRetry, withRetry } from '../retry';
import {
  normalizeSmhStatus,
  type SmhQueryResult,
  type SmhTaskQuery,
  type SmhTaskStatus,
  type TaskResult,
} from '../task';
import { attemptBudget, deadlineSignal, type CallOptions } from '../upstream';
import type { LibraryAccess, LibrarySecretProvider } from './secrets';

export interface SmhClientDeps {
  config: SmhConfig;
  secrets: LibrarySecretProvider;
  log?: Log;
  /** Upstream latency and errors by code, per request. */
  metrics?: Metrics;
  now?: () => number;
  /** How requests travel (Node's fetch by default; the simulation passes a stand-in). */
  fetch?: typeof fetch;
}

interface CachedToken {
  token: string;
  /** Epoch ms after which we mint a new one (SMH's expiry minus a safety margin). */
  refreshAt: number;
}

interface Answer {
  status: number;
  body: unknown;
  requestId?: string;
}

/** Upstream task item as SMH sends it. */
interface RawTask {
  taskId: string;
  status: number;
  result: TaskResult;
}

/** Chunks of one query run at most this many at a time. */
const CHUNK_CONCURRENCY = 4;

/** A refusal of a multi-id request that is about one of its ids: split the request to find it. */
function isPerIdRefusal(error: unknown): boolean {
  return error instanceof UpstreamNotFoundError && error.upstreamCode === 'TaskNotFound';
}

/**
 * SMH (Smart Media Hosting) Query Task over Node's fetch.
 *
 * - Each library is reached on its own host when it has one (LibraryAccess.baseUrl), else on SMH_BASE_URL.
 * - Access tokens are minted from the library secret (`GET /api/v1/token`), cached per library/space/user until
 *   shortly before they expire, minted once for concurrent callers, and dropped and re-minted once when SMH
 *   answers 403 `InvalidAccessToken`. Space-level queries mint for the space with SMH_TOKEN_GRANT (read-only by
 *   default); library-level queries carry no space, which Tencent allows on a multi-tenant library only with an
 *   admin token, so they mint with SMH_LIBRARY_TOKEN_GRANT (`admin` by default).
 * - `result` is kept as SMH sent it: an object, or an array of per-item results for batch operations. Numbers a
 *   double would change (beyond 2^53, more digits than a double keeps) are kept exactly, as `ExactNumber`
 *   (lib/json.ts), and so are task ids beyond 2^53.
 * - A `404 TaskNotFound` for a request of several ids is split in halves until the refused ids are found (at
 *   most 2n−1 requests for n ids); those are reported in `notFound` and the others answered as usual.
 * - Tokens and secrets travel in query strings: every URL that may be logged is redacted, every message scrubbed.
 */
export class SmhClient {
  private readonly config: SmhConfig;
  private readonly secrets: LibrarySecretProvider;
  private readonly log: Log;
  private readonly metrics: Metrics;
  private readonly now: () => number;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly minting = new Map<string, Promise<CachedToken>>();
  private readonly fetch: typeof fetch;

  constructor(deps: SmhClientDeps) {
    this.config = deps.config;
    this.secrets = deps.secrets;
    this.log = deps.log ?? silentLog;
    this.metrics = deps.metrics ?? silentMetrics;
    this.now = deps.now ?? Date.now;
    this.fetch = deps.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Ids SMH is asked about per request (SMH_MAX_IDS_PER_REQUEST). */
  get maxIdsPerRequest(): number {
    return this.config.maxIdsPerRequest;
  }

  /** Statuses of up to any number of ids, batched `maxIdsPerRequest` per upstream request. */
  async queryTasks(query: SmhTaskQuery, options: CallOptions = {}): Promise<SmhQueryResult> {
    const access = await this.secrets(query.libraryId);
    const found = new Map<string, RawTask>();
    const refused = new Set<string>();
    const chunks = chunk(query.taskIds, this.config.maxIdsPerRequest);
    await mapLimit(chunks, CHUNK_CONCURRENCY, (ids) =>
      this.queryIds(query, access, ids, options, found, refused),
    );
    const checkedAt = new Date(this.now()).toISOString();
    const tasks: SmhTaskStatus[] = [];
    const notFound: string[] = [];
    for (const id of query.taskIds) {
      const raw = found.get(id);
      if (!raw || refused.has(id)) {
        notFound.push(id);
        continue;
      }
      const { status, message } = normalizeSmhStatus(raw.status);
      const result = raw.result;
      const ownMessage =
        result !== null && !Array.isArray(result) && typeof result.message === 'string'
          ? result.message
          : undefined;
      tasks.push({
        provider: 'smh',
        libraryId: query.libraryId,
        spaceId: query.spaceId ?? null,
        taskId: id,
        status,
        upstreamStatus: raw.status,
        result,
        message: ownMessage ?? message,
        checkedAt,
      });
    }
    return { tasks, notFound };
  }

  /** Queries `ids`; a per-id refusal splits them in halves until each refused id stands alone. */
  private async queryIds(
    query: SmhTaskQuery,
    access: LibraryAccess,
    ids: string[],
    options: CallOptions,
    found: Map<string, RawTask>,
    refused: Set<string>,
  ): Promise<void> {
    try {
      for (const task of await this.queryChunk(query, access, ids, options)) found.set(task.taskId, task);
    } catch (error) {
      if (!isPerIdRefusal(error)) throw error;
      if (ids.length === 1) {
        refused.add(ids[0] as string);
        return;
      }
      this.log.debug('SMH refused a multi-id request with TaskNotFound; splitting it', {
        libraryId: query.libraryId,
        ids: ids.length,
      });
      const half = Math.ceil(ids.length / 2);
      await Promise.all([
        this.queryIds(query, access, ids.slice(0, half), options, found, refused),
        this.queryIds(query, access, ids.slice(half), options, found, refused),
      ]);
    }
  }

  private async queryChunk(
    query: SmhTaskQuery,
    access: LibraryAccess,
    ids: string[],
    options: CallOptions,
  ): Promise<RawTask[]> {
    const segments = ['api', 'v1', 'task', query.libraryId];
    if (query.spaceId !== undefined) segments.push(query.spaceId);
    const path = `/${segments.map(encodeURIComponent).join('/')}/${ids.map(encodeURIComponent).join(',')}`;
    const key = tokenKey(query);
    let refreshed = false;
    let mintFailed = false; // the token call has its own retries: do not multiply them here
    const ask = (token: string) =>
      this.get(access, path, { access_token: token, user_id: query.userId }, options, [token]).then(
        parseTaskList,
      );
    return withRetry(
      async () => {
        const token = await this.token(query, access, options).catch((error: unknown) => {
          mintFailed = true;
          throw error;
        });
        try {
          return await ask(token);
        } catch (error) {
          if (
            refreshed ||
            !(error instanceof UpstreamAuthError) ||
            error.upstreamCode !== 'InvalidAccessToken'
          ) {
            throw error;
          }
          refreshed = true;
          this.log.info('SMH access token rejected, minting a new one', { libraryId: query.libraryId });
          if (this.tokens.get(key)?.token === token) this.tokens.delete(key);
          return ask(await this.token(query, access, options));
        }
      },
      {
        ...this.retryOptions('task query', options),
        shouldRetry: (error) => !mintFailed && isRetryable(error),
      },
    );
  }

  /** A valid token for the query's library/space/user: cached, or minted once for all concurrent callers. */
  private async token(query: SmhTaskQuery, access: LibraryAccess, options: CallOptions): Promise<string> {
    const key = tokenKey(query);
    const cached = this.tokens.get(key);
    if (cached && cached.refreshAt > this.now()) return cached.token;
    let pending = this.minting.get(key);
    if (!pending) {
      pending = this.mint(query, access, options).finally(() => this.minting.delete(key));
      this.minting.set(key, pending);
    }
    const minted = await pending;
    this.tokens.set(key, minted);
    return minted.token;
  }

  private async mint(query: SmhTaskQuery, access: LibraryAccess, options: CallOptions): Promise<CachedToken> {
    const libraryLevel = query.spaceId === undefined;
    const grant = libraryLevel ? this.config.libraryTokenGrant : this.config.tokenGrant;
    const params = {
      library_id: query.libraryId,
      library_secret: access.secret,
      space_id: libraryLevel || query.spaceId === '-' ? undefined : query.spaceId,
      user_id: query.userId,
      grant: grant || undefined,
      period: String(this.config.tokenPeriodSeconds),
    };
    const minted = await withRetry(
      async () => {
        const answer = await this.get(access, '/api/v1/token', params, options, [access.secret]);
        const body = answer.body as { accessToken?: unknown; expiresIn?: unknown } | null;
        if (
          typeof body?.accessToken !== 'string' ||
          !body.accessToken ||
          typeof body.expiresIn !== 'number'
        ) {
          throw new UpstreamBadResponseError('SMH token answer lacks accessToken/expiresIn', {
            provider: 'smh',
            requestId: answer.requestId,
          });
        }
        return { token: body.accessToken, expiresIn: body.expiresIn };
      },
      this.retryOptions('token', options),
    );
    registerSecret(minted.token);
    const lifetimeMs = minted.expiresIn * 1000;
    const margin = Math.min(60_000, lifetimeMs / 10);
    this.log.debug('SMH access token minted', { libraryId: query.libraryId, expiresIn: minted.expiresIn });
    return { token: minted.token, refreshAt: this.now() + lifetimeMs - margin };
  }

  /** One GET, measured (latency, errors by code). */
  private async get(
    access: LibraryAccess,
    path: string,
    params: Record<string, string | undefined>,
    options: CallOptions,
    secrets: string[],
  ): Promise<Answer> {
    const started = Date.now();
    try {
      const answer = await this.request(access, path, params, options, secrets);
      recordUpstream(this.metrics, started);
      return answer;
    } catch (error) {
      recordUpstream(this.metrics, started, error);
      throw error;
    }
  }

  /** One GET with a per-attempt timeout; non-2xx answers become typed errors, unreadable ones too. */
  private async request(
    access: LibraryAccess,
    path: string,
    params: Record<string, string | undefined>,
    options: CallOptions,
    secrets: string[],
  ): Promise<Answer> {
    const url = new URL(path, access.baseUrl ?? this.config.baseUrl);
    for (const [name, value] of Object.entries(params))
      if (value !== undefined) url.searchParams.set(name, value);
    // At most timeoutMs, and never past the caller's deadline (a poller needs the rest to store what it found).
    const attempt = deadlineSignal(attemptBudget(this.config.timeoutMs, options.deadline), options.signal);
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(url, { signal: attempt.signal, headers: { accept: 'application/json' } });
      text = await response.text();
    } catch (error) {
      const details = { provider: 'smh' as const };
      if (attempt.timedOut())
        throw new UpstreamTimeoutError(`SMH did not answer in time (${redactUrl(url)})`, details);
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = redact(cause?.code ?? cause?.message ?? (error as Error).message, secrets);
      throw new UpstreamUnavailableError(`Could not reach SMH (${redactUrl(url)}): ${reason}`, details);
    } finally {
      attempt.clear();
    }
    const requestId =
      response.headers.get('x-smh-request-id') ?? response.headers.get('x-request-id') ?? undefined;
    let body: unknown = undefined;
    if (text) {
      try {
        // Numbers a double would change (ids and sizes beyond 2^53, long decimals) are kept as ExactNumber.
        body = parseJson(text);
      } catch {
        body = undefined;
      }
    }
    if (response.status >= 200 && response.status < 300) {
      // An empty 204 means "nothing"; an empty or unreadable 200 is a broken answer (retried).
      if (body === undefined && response.status !== 204) {
        throw new UpstreamBadResponseError(
          `SMH answered ${response.status} with ${text ? 'a body that is not JSON' : 'an empty body'}`,
          { provider: 'smh', requestId },
        );
      }
      return { status: response.status, body, requestId };
    }
    throw classifySmhError(response.status, body, requestId, secrets);
  }

  private retryOptions(what: string, options: CallOptions) {
    return {
      policy: this.config.retry,
      deadline: options.deadline,
      signal: options.signal,
      onRetry: logRetry(this.log, `SMH ${what} failed, retrying`),
    };
  }
}

/** Tokens are per library and space (a library-level token is another grant) and user. */
function tokenKey(query: SmhTaskQuery): string {
  const space = query.spaceId === undefined ? '\u0001library' : query.spaceId === '-' ? '' : query.spaceId;
  return `${query.libraryId}\u0000${space}\u0000${query.userId ?? ''}`;
}

/** SMH's task list: items carry `taskId` (or `id`, as some SDKs read it), a numeric `status`, and `result`. */
function parseTaskList(answer: Answer): RawTask[] {
  const bad = (what: string) =>
    new UpstreamBadResponseError(`SMH task answer ${what}`, { provider: 'smh', requestId: answer.requestId });
  if (answer.status === 204 || answer.body === undefined) return [];
  if (!Array.isArray(answer.body)) throw bad('is not a JSON array');
  return answer.body.map((item: unknown) => {
    const record = item as Record<string, unknown> | null;
    const rawId = record?.taskId ?? record?.id;
    // Task ids have up to 19 digits: one beyond 2^53 arrives as an ExactNumber, its digits as SMH sent them.
    const id = rawId instanceof ExactNumber ? rawId.value : rawId;
    if (typeof record?.status !== 'number' || (typeof id !== 'number' && typeof id !== 'string')) {
      throw bad('has an item without a numeric taskId (or id) and status');
    }
    const result = record.result;
    return {
      taskId: String(id),
      status: record.status,
      result: result === undefined ? null : (result as TaskResult),
    };
  });
}

/** SMH's 404 codes we answer as they are (404, documented); any other 404 is UpstreamError. */
const SMH_NOT_FOUND_CODES: ReadonlySet<string> = new Set([
  'LibraryNotFound',
  'SpaceNotFound',
  'TaskNotFound',
]);

/**
 * SMH error answers (`{code, message}` with an HTTP status) → our error classes. Messages are scrubbed of the
 * token and secret used for the request (and anything else redact() knows), in case SMH echoes them.
 */
export function classifySmhError(
  status: number,
  body: unknown,
  requestId: string | undefined,
  secrets: string[],
) {
  const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
  const upstreamCode = typeof code === 'string' ? code : undefined;
  const text = redact(
    `SMH ${status}${upstreamCode ? ` ${upstreamCode}` : ''}${typeof message === 'string' ? `: ${message}` : ''}`,
    secrets,
  );
  const details: UpstreamErrorDetails = {
    provider: 'smh',
    upstreamCode,
    requestId,
    upstreamHttpStatus: status,
  };
  if (status === 429) return new UpstreamThrottledError(text, details);
  if (status >= 500) return new UpstreamUnavailableError(text, details);
  if (status === 401 || status === 403 || upstreamCode === 'WrongLibraryIdOrSecret') {
    return new UpstreamAuthError(text, details);
  }
  if (status === 404 && upstreamCode && SMH_NOT_FOUND_CODES.has(upstreamCode)) {
    return new UpstreamNotFoundError(text, { ...details, code: upstreamCode });
  }
  if (status === 400) return new UpstreamRejectedError(text, details);
  // Any other status, and a 404 with a code we do not know (or none): UpstreamError, a documented code, with
  // SMH's own code in upstreamCode. It is not "not found" of anything we can name.
  return new UpstreamFailedError(text, details);
}
