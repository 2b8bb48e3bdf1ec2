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
import { silentLog, type Log } from '../log';
import { redactText, redactUrl } from '../redact';
import { logRetry, withRetry } from '../retry';
import { normalizeSmhStatus, type SmhQueryResult, type SmhTaskQuery, type SmhTaskStatus } from '../task';
import { attemptSignal, type CallOptions } from '../upstream';
import type { LibrarySecretProvider } from './secrets';

export interface SmhClientDeps {
  config: SmhConfig;
  secrets: LibrarySecretProvider;
  log?: Log;
  now?: () => number;
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
  result: Record<string, unknown> | null;
}

/** Chunks of one query run at most this many at a time. */
const CHUNK_CONCURRENCY = 4;

/**
 * SMH (Smart Media Hosting) Query Task over Node's fetch.
 *
 * Access tokens are minted from the library secret (`GET /api/v1/token`), cached per library/space/user until
 * shortly before they expire, minted once for concurrent callers, and dropped and re-minted once when SMH answers
 * 403 `InvalidAccessToken`. Tokens and secrets travel in query strings, so every URL that may be logged is
 * redacted and every upstream message is scrubbed of them.
 */
export class SmhClient {
  private readonly config: SmhConfig;
  private readonly secrets: LibrarySecretProvider;
  private readonly log: Log;
  private readonly now: () => number;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly minting = new Map<string, Promise<CachedToken>>();

  constructor(deps: SmhClientDeps) {
    this.config = deps.config;
    this.secrets = deps.secrets;
    this.log = deps.log ?? silentLog;
    this.now = deps.now ?? Date.now;
  }

  /** Statuses of up to any number of ids, batched `maxIdsPerRequest` per upstream request. */
  async queryTasks(query: SmhTaskQuery, options: CallOptions = {}): Promise<SmhQueryResult> {
    const found = new Map<string, RawTask>();
    const chunks = chunk(query.taskIds, this.config.maxIdsPerRequest);
    await mapLimit(chunks, CHUNK_CONCURRENCY, async (ids) => {
      for (const task of await this.queryChunk(query, ids, options)) found.set(task.taskId, task);
    });
    const checkedAt = new Date(this.now()).toISOString();
    const tasks: SmhTaskStatus[] = [];
    const notFound: string[] = [];
    for (const id of query.taskIds) {
      const raw = found.get(id);
      if (!raw) {
        notFound.push(id);
        continue;
      }
      const { status, message } = normalizeSmhStatus(raw.status);
      tasks.push({
        provider: 'smh',
        libraryId: query.libraryId,
        spaceId: query.spaceId ?? null,
        taskId: id,
        status,
        upstreamStatus: raw.status,
        result: raw.result,
        message: typeof raw.result?.message === 'string' ? raw.result.message : message,
        checkedAt,
      });
    }
    return { tasks, notFound };
  }

  private async queryChunk(query: SmhTaskQuery, ids: string[], options: CallOptions): Promise<RawTask[]> {
    const segments = ['api', 'v1', 'task', query.libraryId];
    if (query.spaceId !== undefined) segments.push(query.spaceId);
    const path = `/${segments.map(encodeURIComponent).join('/')}/${ids.map(encodeURIComponent).join(',')}`;
    const key = tokenKey(query);
    let refreshed = false;
    let mintFailed = false; // the token call has its own retries: do not multiply them here
    const answer = await withRetry(
      async () => {
        const token = await this.token(query, options).catch((error: unknown) => {
          mintFailed = true;
          throw error;
        });
        try {
          return await this.get(path, { access_token: token, user_id: query.userId }, options, [token]);
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
          const fresh = await this.token(query, options);
          return await this.get(path, { access_token: fresh, user_id: query.userId }, options, [fresh]);
        }
      },
      {
        ...this.retryOptions('task query', options),
        shouldRetry: (error) => !mintFailed && isRetryable(error),
      },
    );
    return parseTaskList(answer);
  }

  /** A valid token for the query's library/space/user: cached, or minted once for all concurrent callers. */
  private async token(query: SmhTaskQuery, options: CallOptions): Promise<string> {
    const key = tokenKey(query);
    const cached = this.tokens.get(key);
    if (cached && cached.refreshAt > this.now()) return cached.token;
    let pending = this.minting.get(key);
    if (!pending) {
      pending = this.mint(query, options).finally(() => this.minting.delete(key));
      this.minting.set(key, pending);
    }
    const minted = await pending;
    this.tokens.set(key, minted);
    return minted.token;
  }

  private async mint(query: SmhTaskQuery, options: CallOptions): Promise<CachedToken> {
    const secret = await this.secrets(query.libraryId);
    const params = {
      library_id: query.libraryId,
      library_secret: secret,
      space_id: query.spaceId === undefined || query.spaceId === '-' ? undefined : query.spaceId,
      user_id: query.userId,
      grant: this.config.tokenGrant || undefined,
      period: String(this.config.tokenPeriodSeconds),
    };
    const answer = await withRetry(
      () => this.get('/api/v1/token', params, options, [secret]),
      this.retryOptions('token', options),
    );
    const body = answer.body as { accessToken?: unknown; expiresIn?: unknown } | null;
    if (typeof body?.accessToken !== 'string' || !body.accessToken || typeof body.expiresIn !== 'number') {
      throw new UpstreamBadResponseError('SMH token answer lacks accessToken/expiresIn', {
        provider: 'smh',
        requestId: answer.requestId,
      });
    }
    const lifetimeMs = body.expiresIn * 1000;
    const margin = Math.min(60_000, lifetimeMs / 10);
    this.log.debug('SMH access token minted', { libraryId: query.libraryId, expiresIn: body.expiresIn });
    return { token: body.accessToken, refreshAt: this.now() + lifetimeMs - margin };
  }

  /** One GET with a per-attempt timeout; non-2xx answers become typed errors. */
  private async get(
    path: string,
    params: Record<string, string | undefined>,
    options: CallOptions,
    secrets: string[],
  ): Promise<Answer> {
    const url = new URL(path, this.config.baseUrl);
    for (const [name, value] of Object.entries(params))
      if (value !== undefined) url.searchParams.set(name, value);
    const attempt = attemptSignal(this.config.timeoutMs, options.signal);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, { signal: attempt.signal, headers: { accept: 'application/json' } });
      text = await response.text();
    } catch (error) {
      const details = { provider: 'smh' as const };
      if (attempt.timedOut())
        throw new UpstreamTimeoutError(`SMH did not answer in time (${redactUrl(url)})`, details);
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = redactText(cause?.code ?? cause?.message ?? (error as Error).message, secrets);
      throw new UpstreamUnavailableError(`Could not reach SMH (${redactUrl(url)}): ${reason}`, details);
    }
    const requestId =
      response.headers.get('x-smh-request-id') ?? response.headers.get('x-request-id') ?? undefined;
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (response.status >= 200 && response.status < 300) {
      if (text && body === undefined) {
        throw new UpstreamBadResponseError(`SMH answered ${response.status} with a body that is not JSON`, {
          provider: 'smh',
          requestId,
        });
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

function tokenKey(query: SmhTaskQuery): string {
  const space = query.spaceId === undefined || query.spaceId === '-' ? '' : query.spaceId;
  return `${query.libraryId}\u0000${space}\u0000${query.userId ?? ''}`;
}

function parseTaskList(answer: Answer): RawTask[] {
  const bad = (what: string) =>
    new UpstreamBadResponseError(`SMH task answer ${what}`, { provider: 'smh', requestId: answer.requestId });
  if (answer.status === 204 || answer.body === undefined) return [];
  if (!Array.isArray(answer.body)) throw bad('is not a JSON array');
  return answer.body.map((item: unknown) => {
    const record = item as Record<string, unknown> | null;
    const id = record?.taskId;
    if (typeof record?.status !== 'number' || (typeof id !== 'number' && typeof id !== 'string')) {
      throw bad('has an item without a numeric taskId and status');
    }
    const result = record.result;
    return {
      taskId: String(id),
      status: record.status,
      result:
        result !== null && typeof result === 'object' && !Array.isArray(result)
          ? (result as Record<string, unknown>)
          : null,
    };
  });
}

/**
 * SMH error answers (`{code, message}` with an HTTP status) → our error classes. Messages are scrubbed of the
 * token and secret used for the request, in case SMH echoes them.
 */
export function classifySmhError(
  status: number,
  body: unknown,
  requestId: string | undefined,
  secrets: string[],
) {
  const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
  const upstreamCode = typeof code === 'string' ? code : undefined;
  const text = redactText(
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
  if (status === 404) {
    const notFoundCode =
      upstreamCode === 'LibraryNotFound' || upstreamCode === 'SpaceNotFound' ? upstreamCode : undefined;
    return new UpstreamNotFoundError(text, { ...details, code: notFoundCode ?? 'NotFound' });
  }
  if (status === 400) return new UpstreamRejectedError(text, details);
  return new UpstreamFailedError(text, details);
}
