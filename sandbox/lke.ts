import { randomUUID } from 'node:crypto';
import { jsonAnswer, type SandboxAnswer } from './answer';
import { verifyTc3, type Tc3Request, type Tc3Secret } from './tc3';

/**
 * LKE stand-in: Cloud API v3 over `POST /` with TC3-HMAC-SHA256, action `GetTaskStatus`, version
 * `2023-11-30`. Every error is HTTP 200 with `Response.Error {Code, Message}` and a `RequestId`, as at Tencent;
 * 20 requests per second per SecretId are allowed, the rest get `RequestLimitExceeded`.
 */

export interface LkeSandboxTask {
  botBizId: string;
  taskType: string;
  taskId: string;
  status: string | null;
  message?: string | null;
  cosPath?: string | null;
  /** When set, GetTaskStatus for this task answers this error code instead (per-task failures for tests). */
  failWith?: string;
}

/** A scripted answer for the next request(s), used by tests to provoke each error class. */
export type LkeFault =
  | { kind: 'error'; code: string; message?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'raw'; status: number; body: string; contentType?: string };

export interface LkeSandboxOptions {
  credentials?: Record<string, Tc3Secret>;
  regions?: string[];
  rateLimitPerSecond?: number;
  /** Answer after this long (± 30 %), like a real endpoint far away; 0 by default. */
  latencyMs?: number;
  now?: () => number;
}

export const LKE_VERSION = '2023-11-30';
export const SEED_LKE_TASK: LkeSandboxTask = {
  botBizId: '1767024172536168448',
  taskType: 'ModifyAttributeLabel',
  taskId: '8',
  status: 'SUCCESS',
  message: '',
  cosPath: '',
};

const taskKey = (botBizId: string, taskType: string, taskId: string) => `${botBizId}/${taskType}/${taskId}`;

export class LkeSandbox {
  readonly credentials: Map<string, Tc3Secret>;
  readonly regions: Set<string>;
  rateLimitPerSecond: number;
  latencyMs: number;
  /** Requests that reached the API (signed or not); tests assert "no upstream call" with it. */
  requestCount = 0;
  /** Requests answered RequestLimitExceeded because more than `rateLimitPerSecond` came within a second. */
  throttledCount = 0;
  /** GetTaskStatus answers per task (`botBizId/taskType/taskId`), so tests can count checks per task. */
  readonly checks = new Map<string, number>();
  private readonly tasks = new Map<string, LkeSandboxTask>();
  private readonly faults: LkeFault[] = [];
  private readonly arrivals = new Map<string, number[]>();
  private readonly now: () => number;

  constructor(options: LkeSandboxOptions = {}) {
    this.credentials = new Map(Object.entries(options.credentials ?? {}));
    this.regions = new Set(options.regions ?? ['ap-jakarta']);
    this.rateLimitPerSecond = options.rateLimitPerSecond ?? 20;
    this.latencyMs = options.latencyMs ?? 0;
    this.now = options.now ?? Date.now;
    this.setTask(SEED_LKE_TASK);
  }

  setTask(task: LkeSandboxTask): void {
    this.tasks.set(taskKey(task.botBizId, task.taskType, task.taskId), { ...task });
  }

  listTasks(): LkeSandboxTask[] {
    return [...this.tasks.values()];
  }

  /** The tasks, to save and restore across restarts (credentials are per run). */
  snapshot(): { tasks: LkeSandboxTask[] } {
    return { tasks: this.listTasks() };
  }

  restore(state: { tasks?: LkeSandboxTask[] }): void {
    for (const task of state.tasks ?? []) this.setTask(task);
  }

  /** Queues faults; each answers one request after authentication, in order. */
  inject(fault: LkeFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  handle(request: Tc3Request): SandboxAnswer {
    const answer = this.answer(request);
    if (this.latencyMs > 0 && answer.delayMs === undefined) {
      answer.delayMs = Math.round(this.latencyMs * (0.7 + Math.random() * 0.6));
    }
    return answer;
  }

  private answer(request: Tc3Request): SandboxAnswer {
    this.requestCount++;
    const requestId = randomUUID();
    const error = (code: string, message: string, delayMs?: number) =>
      json({ Response: { Error: { Code: code, Message: message }, RequestId: requestId } }, delayMs);

    if (request.method !== 'POST' || request.path !== '/') {
      return error('InvalidAction', 'Only POST / is served by this endpoint.');
    }
    const contentType = (request.headers['content-type'] ?? '').toLowerCase();
    if (!contentType.startsWith('application/json')) {
      return error('InvalidParameter', 'Content-Type must be application/json.');
    }
    const auth = verifyTc3(request, (id) => this.credentials.get(id), Math.floor(this.now() / 1000));
    if (!auth.ok) return error(auth.code, auth.message);
    if (this.throttled(auth.secretId)) {
      this.throttledCount++;
      return error('RequestLimitExceeded', 'Your current request times equals to `20` in a second.');
    }

    const fault = this.faults.shift();
    if (fault?.kind === 'error') return error(fault.code, fault.message ?? `Injected ${fault.code}.`);
    if (fault?.kind === 'raw') {
      return {
        status: fault.status,
        headers: { 'content-type': fault.contentType ?? 'application/json' },
        body: fault.body,
      };
    }
    const delayMs = fault?.kind === 'delay' ? fault.ms : undefined;

    const action = request.headers['x-tc-action'];
    if (action !== 'GetTaskStatus')
      return error('InvalidAction', `The action "${action}" is not found.`, delayMs);
    if (request.headers['x-tc-version'] !== LKE_VERSION) {
      return error('NoSuchVersion', `The version must be ${LKE_VERSION}.`, delayMs);
    }
    const region = request.headers['x-tc-region'];
    if (!region) return error('MissingParameter', 'The request is missing X-TC-Region.', delayMs);
    if (!this.regions.has(region)) {
      return error('UnsupportedRegion', `GetTaskStatus is not supported in region ${region}.`, delayMs);
    }

    let params: Record<string, unknown>;
    try {
      params = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
      if (params === null || typeof params !== 'object' || Array.isArray(params))
        throw new Error('not an object');
    } catch {
      return error('InvalidParameter', 'The request body is not a JSON object.', delayMs);
    }
    for (const name of ['TaskId', 'TaskType', 'BotBizId']) {
      const value = params[name];
      if (value === undefined || value === null || value === '') {
        return error('MissingParameter', `The parameter \`${name}\` is missing.`, delayMs);
      }
      if (typeof value !== 'string') {
        return error('InvalidParameterValue', `The parameter \`${name}\` must be a string.`, delayMs);
      }
    }
    const key = taskKey(params.BotBizId as string, params.TaskType as string, params.TaskId as string);
    this.checks.set(key, (this.checks.get(key) ?? 0) + 1);
    const task = this.tasks.get(key);
    if (!task) return error('ResourceNotFound', 'The task does not exist.', delayMs);
    if (task.failWith) return error(task.failWith, `Injected ${task.failWith} for this task.`, delayMs);
    return json(
      {
        Response: {
          Message: task.message ?? null,
          Params: task.cosPath === undefined ? null : { CosPath: task.cosPath },
          RequestId: requestId,
          Status: task.status,
          TaskId: task.taskId,
          TaskType: task.taskType,
        },
      },
      delayMs,
    );
  }

  /** Starts the counters over (a benchmark measures one phase); the rate window itself is kept. */
  resetCounters(): void {
    this.requestCount = 0;
    this.throttledCount = 0;
    this.peakPerSecond = 0;
    this.firstAt = 0;
    this.lastAt = 0;
  }

  /** The fullest sliding second seen so far (requests per SecretId): how close callers came to the limit. */
  peakPerSecond = 0;
  /** When the first and the last authenticated request arrived (epoch ms), for a sustained rate. */
  firstAt = 0;
  lastAt = 0;

  /** Sliding one-second window per SecretId, counting every authenticated request. */
  private throttled(secretId: string): boolean {
    const now = this.now();
    this.firstAt ||= now;
    this.lastAt = now;
    const recent = (this.arrivals.get(secretId) ?? []).filter((t) => now - t < 1000);
    recent.push(now);
    this.arrivals.set(secretId, recent);
    this.peakPerSecond = Math.max(this.peakPerSecond, recent.length);
    return recent.length > this.rateLimitPerSecond;
  }
}

/** Cloud API v3 answers everything, errors included, with HTTP 200. */
function json(body: unknown, delayMs?: number): SandboxAnswer {
  const answer = jsonAnswer(200, body);
  if (delayMs !== undefined) answer.delayMs = delayMs;
  return answer;
}
