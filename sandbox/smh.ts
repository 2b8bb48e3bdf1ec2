import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { toNumber } from '../lib/json';
import type { TaskResult } from '../lib/task';
import { jsonAnswer, type SandboxAnswer } from './answer';

/**
 * SMH stand-in: the token API and both Query Task APIs as Tencent documents them (and as its SDKs read them).
 *
 * - `GET /api/v1/token?library_id&library_secret[&space_id][&user_id][&grant][&period]` → `{accessToken, expiresIn}`:
 *   400 `EmptyLibraryIdOrSecret`, 404 `LibraryNotFound` / `WrongLibraryIdOrSecret` / `SpaceNotFound`; `period` is
 *   clamped to 300…315360000 and an invalid one falls back to 86400, as Tencent does; on a multi-tenant library a
 *   token without `space_id` needs the `admin` grant (400 `ParamInvalid`); each use extends a token.
 * - `GET /api/v1/task/{LibraryId}/{SpaceId}/{TaskIdList}` (space level, `-` for single-tenant) and
 *   `GET /api/v1/task/{LibraryId}/{TaskIdList}` (library level, an admin token on a multi-tenant library), with
 *   `access_token` (and `user_id`): 200 with a JSON array of the ids it knows; `result` as set (an object, or an
 *   array of per-item results for batch operations; an ExactNumber in it is written with every digit, and so
 *   are ids beyond 2^53); tasks finished more than 30 days ago are unknown.
 * - Unknown ids are left out of the answer, or (a library with `unknownTaskIds: "refuse"`) refuse the whole
 *   request with `404 TaskNotFound`: Tencent documents neither, so both are served. A library with
 *   `idField: "id"` names the task id `id`, as some SDK models read it.
 * - Errors are `{code, message}` with the documented statuses; `x-smh-request-id` on every answer.
 * - Faults (429 / 500 / slow / raw answers) can be queued for the next task-API requests.
 */

export interface SmhSandboxLibrary {
  libraryId: string;
  secret: string;
  /** Space ids of a multi-tenant library; a single-tenant library (the default) has only `-`. */
  spaces?: string[];
  /** What a request with an unknown id gets: the id left out (default), or `404 TaskNotFound` for all of it. */
  unknownTaskIds?: 'omit' | 'refuse';
  /** The field that carries the task id in answers (default `taskId`). */
  idField?: 'taskId' | 'id';
}

export interface SmhSandboxTask {
  libraryId: string;
  /** `null` for a library-level task (history clearing). */
  spaceId: string | null;
  taskId: string;
  /** 202 running, 200 done with result, 204 done, 500 failed, 499 cancelled, 207 partly, 400 all failed. */
  status: number;
  result?: TaskResult;
  /** When the task finished (epoch ms); tasks older than 30 days are no longer answered. */
  finishedAt?: number;
}

export type SmhFault =
  | { kind: 'status'; status: number; code: string; message?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'raw'; status: number; body: string; contentType?: string };

interface Token {
  libraryId: string;
  spaceId?: string;
  userId?: string;
  grant: string;
  expiresAt: number;
  periodMs: number;
}

export interface SmhSandboxOptions {
  libraries?: SmhSandboxLibrary[];
  now?: () => number;
}

export const RETENTION_MS = 30 * 24 * 3600 * 1000;
/** Tencent's bounds for a token's `period`, and what an invalid one falls back to. */
export const TOKEN_PERIOD = { min: 300, max: 315_360_000, fallback: 86_400 };
const TASK_PATH = /^\/api\/v1\/task\/([^/]+)(?:\/([^/]+))?\/([^/]+)$/;

/** Task requests the sandbox remembers for tests (`taskRequestLog`). */
export const TASK_REQUEST_LOG_SIZE = 1_000;

export class SmhSandbox {
  private readonly libraries = new Map<string, SmhSandboxLibrary>();
  private readonly tasks = new Map<string, SmhSandboxTask>();
  private readonly tokens = new Map<string, Token>();
  private readonly faults: SmhFault[] = [];
  /** Every request that reached the SMH API, token API included (tests assert "no upstream call" with it). */
  requestCount = 0;
  tokenRequests = 0;
  taskRequests = 0;
  /**
   * Paths and query strings of task requests, tokens masked, so tests can check batching and encoding: the last
   * TASK_REQUEST_LOG_SIZE only, so a sandbox left running under `npm start` does not grow without end.
   */
  readonly taskRequestLog: { path: string; ids: string[]; userId: string | null }[] = [];
  readonly now: () => number;

  constructor(options: SmhSandboxOptions = {}) {
    this.now = options.now ?? Date.now;
    for (const library of options.libraries ?? []) this.setLibrary(library);
  }

  setLibrary(library: SmhSandboxLibrary): void {
    this.libraries.set(library.libraryId, { ...library });
  }

  /** Libraries and tasks (not tokens or faults), to save and restore across restarts. */
  snapshot(): { libraries: SmhSandboxLibrary[]; tasks: SmhSandboxTask[] } {
    return { libraries: [...this.libraries.values()], tasks: this.listTasks() };
  }

  restore(state: { libraries?: SmhSandboxLibrary[]; tasks?: SmhSandboxTask[] }): void {
    for (const library of state.libraries ?? []) this.setLibrary(library);
    for (const task of state.tasks ?? []) this.setTask(task);
  }

  setTask(task: SmhSandboxTask): void {
    this.tasks.set(`${task.libraryId}/${task.taskId}`, { ...task });
  }

  deleteTask(libraryId: string, taskId: string): boolean {
    return this.tasks.delete(`${libraryId}/${taskId}`);
  }

  listTasks(): SmhSandboxTask[] {
    return [...this.tasks.values()];
  }

  libraryIds(): string[] {
    return [...this.libraries.keys()];
  }

  /** Queues faults for the next task-API requests (the token API is not affected). */
  inject(fault: SmhFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Every token ever issued (tests check that none was logged). */
  readonly issuedTokens: string[] = [];

  /** Invalidates every token, as a secret rotation or an expiry would. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  handle(method: string, path: string, query: URLSearchParams): SandboxAnswer {
    this.requestCount++;
    const requestId = randomUUID();
    const error = (status: number, code: string, message: string) =>
      jsonAnswer(status, { code, message }, { 'x-smh-request-id': requestId });
    if (method !== 'GET') return error(405, 'MethodNotAllowed', `${method} is not served by this sandbox`);
    if (path === '/api/v1/token') return this.mintToken(query, requestId, error);
    const match = TASK_PATH.exec(path);
    if (!match) return error(404, 'NotFound', 'No such API');
    return this.queryTasks(match, query, requestId, error);
  }

  private mintToken(query: URLSearchParams, requestId: string, error: ErrorFn): SandboxAnswer {
    this.tokenRequests++;
    const libraryId = query.get('library_id') ?? '';
    const secret = query.get('library_secret') ?? '';
    const library = this.libraries.get(libraryId);
    if (!libraryId || !secret)
      return error(400, 'EmptyLibraryIdOrSecret', 'The library id or library secret is empty');
    if (!library) return error(404, 'LibraryNotFound', 'The library does not exist');
    if (!sameText(secret, library.secret))
      return error(404, 'WrongLibraryIdOrSecret', 'Wrong library id or secret');
    const spaceId = query.get('space_id') ?? undefined;
    if (spaceId !== undefined && !(library.spaces ?? []).includes(spaceId)) {
      return error(404, 'SpaceNotFound', 'The space does not exist');
    }
    const grant = query.get('grant') ?? '';
    if ((library.spaces ?? []).length > 0 && spaceId === undefined && !grant.split(',').includes('admin')) {
      return error(
        400,
        'ParamInvalid',
        'space_id is required on a multi-tenant library unless the grant is admin',
      );
    }
    const asked = Number(query.get('period') ?? TOKEN_PERIOD.fallback);
    const period = Number.isInteger(asked)
      ? Math.min(TOKEN_PERIOD.max, Math.max(TOKEN_PERIOD.min, asked))
      : TOKEN_PERIOD.fallback;
    const accessToken = randomBytes(24).toString('hex');
    const token: Token = {
      libraryId,
      grant,
      expiresAt: this.now() + period * 1000,
      periodMs: period * 1000,
    };
    if (spaceId !== undefined) token.spaceId = spaceId;
    const userId = query.get('user_id');
    if (userId) token.userId = userId;
    this.tokens.set(accessToken, token);
    this.issuedTokens.push(accessToken);
    return jsonAnswer(200, { accessToken, expiresIn: period }, { 'x-smh-request-id': requestId });
  }

  private queryTasks(
    match: RegExpExecArray,
    query: URLSearchParams,
    requestId: string,
    error: ErrorFn,
  ): SandboxAnswer {
    this.taskRequests++;
    const [, rawLibrary, rawSpace, rawIds] = match as unknown as [string, string, string | undefined, string];
    const libraryId = safeDecode(rawLibrary);
    const spaceId = rawSpace === undefined ? undefined : safeDecode(rawSpace);
    const idText = safeDecode(rawIds);
    const userId = query.get('user_id');
    this.taskRequestLog.push({
      path: match[0],
      ids: idText?.split(',') ?? [],
      userId,
    });
    if (this.taskRequestLog.length > TASK_REQUEST_LOG_SIZE) this.taskRequestLog.shift();

    const accessToken = query.get('access_token');
    if (!accessToken) return error(400, 'EmptyAccessToken', 'The access token is empty');
    const token = this.tokens.get(accessToken);
    if (!token || token.expiresAt <= this.now()) {
      return error(403, 'InvalidAccessToken', 'The access token is invalid or expired');
    }
    if (libraryId === undefined || token.libraryId !== libraryId) {
      return error(403, 'AccessTokenNotMatchLibrary', 'The access token does not belong to this library');
    }
    token.expiresAt = this.now() + token.periodMs; // each use extends the token

    const fault = this.faults.shift();
    if (fault?.kind === 'status') {
      return error(fault.status, fault.code, fault.message ?? `Injected ${fault.code}`);
    }
    if (fault?.kind === 'raw') {
      return {
        status: fault.status,
        headers: { 'content-type': fault.contentType ?? 'application/json' },
        body: fault.body,
      };
    }

    const library = this.libraries.get(libraryId) as SmhSandboxLibrary;
    const spaces = library.spaces ?? [];
    if (spaceId !== undefined) {
      const known = spaces.length === 0 ? spaceId === '-' : spaces.includes(spaceId);
      if (!known) return error(404, 'SpaceNotFound', 'The space does not exist');
      if (token.spaceId !== undefined && token.spaceId !== spaceId) {
        return error(403, 'NoPermission', 'The access token was issued for another space');
      }
    } else if (spaces.length > 0 && !token.grant.split(',').includes('admin')) {
      return error(
        403,
        'NoPermission',
        'A library-level query on a multi-tenant library needs an admin token',
      );
    }
    if (idText === undefined || !/^[1-9][0-9]{0,18}(,[1-9][0-9]{0,18})*$/.test(idText)) {
      return error(400, 'ParamInvalid', 'TaskIdList must be comma-separated task ids');
    }
    const wantedSpace = spaceId === undefined ? null : spaceId;
    const now = this.now();
    const ids = idText.split(',');
    const known = ids.map((id) => {
      const task = this.tasks.get(`${libraryId}/${id}`);
      if (!task || task.spaceId !== wantedSpace) return undefined;
      if (task.finishedAt !== undefined && now - task.finishedAt > RETENTION_MS) return undefined;
      return task;
    });
    if (library.unknownTaskIds === 'refuse' && known.some((task) => task === undefined)) {
      return error(404, 'TaskNotFound', 'The task does not exist');
    }
    const items = known.flatMap((task, n) => {
      if (!task) return [];
      const item: Record<string, unknown> = {
        // A number, as SMH sends it; beyond 2^53 an ExactNumber, so its digits go out as they are.
        [library.idField ?? 'taskId']: toNumber(ids[n] as string),
        status: task.status,
      };
      if (task.result !== undefined && task.result !== null) item.result = task.result;
      return [item];
    });
    const answer = jsonAnswer(200, items, { 'x-smh-request-id': requestId });
    if (fault?.kind === 'delay') answer.delayMs = fault.ms;
    return answer;
  }
}

type ErrorFn = (status: number, code: string, message: string) => SandboxAnswer;

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
