import TencentCloudSDKHttpException from 'tencentcloud-sdk-nodejs/tencentcloud/common/exception/tencent_cloud_sdk_exception';
import type { TableTransport } from '../../lib/aws/dynamodb';
import type { HandoverApi } from '../../lib/handover/notifier';
import { AWS_LIMITS, putEventsEntrySize } from '../../lib/handover/payloads';
import type { LkeSdk } from '../../lib/lke/client';
import { EngineError, type TableEngine } from './engine';
import type { Rng } from './rng';

/**
 * The simulation's stand-ins for everything outside the process: the table's network, LKE, SMH and AWS's
 * hand-over endpoints. Each call may meet a fault (drawn from the seed's fault rates while faults are on): fail
 * before it applies, apply and lose its answer, be throttled, be slower than its deadline, cut the connection, or
 * kill the calling process (before or after the call applied). A dead process's calls never apply and never
 * answer. Requests already on the wire may still land after their process died, as on a real network.
 */

/** A process of the simulation (a Lambda container): calls it makes after it dies are never answered. */
export interface Caller {
  id: string;
  alive: boolean;
}

export interface Rates {
  /** Fails before applying (connection refused, reset). */
  fail: number;
  /** Applies, then the answer is lost. */
  lose: number;
  throttle: number;
  /** Answers (or lands) later than the caller's per-attempt timeout. */
  slow: number;
  /** Lands or answers late, within the usual deadlines (100 ms to 2 s): other calls overtake it. */
  lag: number;
  /** The calling process dies at this call, before or after it applied. */
  crash: number;
}

export const NO_FAULTS: Rates = { fail: 0, lose: 0, throttle: 0, slow: 0, lag: 0, crash: 0 };

export type Fault = 'none' | 'fail' | 'lose' | 'throttle' | 'slow' | 'lag' | 'crash-before' | 'crash-after';

/** What the world offers the stand-ins: time, the fault draw, the trace, and the crash. */
export interface Net {
  rng: Rng;
  faultsOn(): boolean;
  trace(line: string): void;
  crash(caller: Caller, why: string): void;
}

export function drawFault(net: Net, rates: Rates): Fault {
  if (!net.faultsOn()) return 'none';
  const r = net.rng.next();
  let edge = rates.crash;
  if (r < edge) return net.rng.chance(0.5) ? 'crash-before' : 'crash-after';
  if (r < (edge += rates.fail)) return 'fail';
  if (r < (edge += rates.lose)) return 'lose';
  if (r < (edge += rates.throttle)) return 'throttle';
  if (r < (edge += rates.slow)) return 'slow';
  if (r < (edge += rates.lag)) return 'lag';
  return 'none';
}

/** A lagging call's late leg: 100 ms to 2 s. */
const lagMs = (net: Net) => net.rng.int(100, 2_000);

const never = <T>() => new Promise<T>(() => undefined);

/**
 * A request's trip: `arrive` runs when it reaches the far side (after `outMs`), its answer comes back `backMs`
 * later. An abort ends the wait at once, whether or not the request arrived.
 */
function trip<T>(
  signal: AbortSignal | undefined,
  outMs: number,
  backMs: number,
  caller: Caller,
  arrive: () => { answer: () => T } | { error: () => unknown } | 'drop',
  onAbort: () => unknown,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let back: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const abort = () => {
      if (settled) return;
      settled = true;
      if (back) clearTimeout(back);
      reject(onAbort());
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    setTimeout(() => {
      const outcome = arrive();
      if (outcome === 'drop' || settled) return;
      back = setTimeout(() => {
        if (settled || !caller.alive) return;
        settled = true;
        signal?.removeEventListener('abort', abort);
        if ('answer' in outcome) resolve(outcome.answer());
        else reject(outcome.error());
      }, backMs);
    }, outMs);
  });
}

// ---- the table's network -------------------------------------------------------------------------------------

export interface TableNetOptions {
  engine: TableEngine;
  rates: Rates;
}

const networkError = (message: string) => Object.assign(new Error(message), { code: 'ECONNRESET' });

/** The table's transport for one process: latency, faults, and the engine behind it. */
export function tableTransport(net: Net, options: TableNetOptions, caller: Caller): TableTransport {
  return ({ operation, body, signal }) => {
    if (!caller.alive) return never();
    const fault = drawFault(net, options.rates);
    const request = JSON.parse(body) as Record<string, unknown>;
    const what = `${operation} ${describeKey(request)}`;
    if (fault !== 'none') net.trace(`  fault ${fault} on table ${what} (${caller.id})`);
    else if (describeKey(request).startsWith('quota#'))
      net.trace(`  table ${what} ${String(request.UpdateExpression ?? '')} (${caller.id})`);
    if (fault === 'crash-before') {
      net.crash(caller, `died before ${what}`);
      return never();
    }
    const late = fault === 'slow' ? net.rng.int(3_500, 9_000) : fault === 'lag' ? lagMs(net) : 0;
    const lateOut = late > 0 && net.rng.chance(0.5);
    const outMs = lateOut ? late : net.rng.int(1, 8);
    const backMs = late > 0 && !lateOut ? late : net.rng.int(1, 8);
    return trip(
      signal,
      outMs,
      backMs,
      caller,
      () => {
        if (fault === 'fail') return { error: () => networkError('connection reset before the request') };
        if (fault === 'throttle')
          return {
            answer: () => ({
              status: 400,
              body: JSON.stringify({
                __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
                message: 'Rate of requests exceeds the allowed throughput.',
              }),
            }),
          };
        let answer: { status: number; body: string };
        try {
          answer = { status: 200, body: JSON.stringify(options.engine.handle(operation, request)) };
          if (describeKey(request).startsWith('quota#'))
            net.trace(
              `  table ${what} applied → ${JSON.stringify(options.engine.snapshotOf(describeKey(request))?.next)} (${caller.id})`,
            );
        } catch (error) {
          if (!(error instanceof EngineError)) throw error;
          answer = {
            status: error.status,
            body: JSON.stringify({
              __type: `com.amazonaws.dynamodb.v20120810#${error.type}`,
              message: error.message,
            }),
          };
        }
        if (fault === 'crash-after') {
          net.crash(caller, `died after ${what} applied`);
          return 'drop';
        }
        if (fault === 'lose') return { error: () => networkError('the answer was lost') };
        return { answer: () => answer };
      },
      () => new Error('aborted'),
    );
  };
}

function describeKey(request: Record<string, unknown>): string {
  const key = (request.Key ?? request.Item) as Record<string, { S?: string }> | undefined;
  if (key?.id?.S) return key.id.S;
  if (request.IndexName) return `index ${String(request.IndexName)}`;
  return '';
}

// ---- LKE -----------------------------------------------------------------------------------------------------

export interface LkeTruth {
  key: string;
  botBizId: string;
  taskType: string;
  taskId: string;
  known: boolean;
  /** Statuses over time: the latest entry at or before a request's arrival is what LKE answers. */
  timeline: { at: number; status: string; message?: string; cosPath?: string }[];
}

export interface LkeRates {
  throttle: number;
  error: number;
  /** The connection is cut after the request arrived. */
  cut: number;
  /** No answer before the attempt's timeout. */
  slow: number;
  /** The answer comes 100 ms to 2 s late (the request arrives on time: the quota counts arrivals). */
  lag: number;
  /** The calling process dies at this call: before it leaves, or after it arrived (the answer is never read). */
  crash: number;
  /** A task the upstream knows is answered as not found, once (a transient fault, not a rule). */
  missing: number;
}

type UpstreamFault =
  'none' | 'throttle' | 'error' | 'cut' | 'slow' | 'lag' | 'crash-before' | 'crash-after' | 'missing';

/** Draws one of an upstream's faults, in the order of `rates`' keys. */
function drawUpstream<K extends string>(net: Net, rates: Record<K, number>): K | 'none' {
  const r = net.rng.next();
  let edge = 0;
  for (const [fault, rate] of Object.entries(rates) as [K, number][]) if (r < (edge += rate)) return fault;
  return 'none';
}

/** The fault of an upstream call; a crash is before or after, half and half. */
function upstreamFault(net: Net, rates: Record<string, number>): UpstreamFault | 'tokenRefused' {
  if (!net.faultsOn()) return 'none';
  const fault = drawUpstream(net, rates);
  if (fault === 'crash') return net.rng.chance(0.5) ? 'crash-before' : 'crash-after';
  return fault as UpstreamFault | 'tokenRefused';
}

/** What the simulated upstreams answered: each reading a check could have stored, and each call that arrived. */
export interface UpstreamLog {
  /** A task's status as an upstream reported it (normalized by the caller), at the upstream's time. */
  reported(key: string, answer: unknown, at: number): void;
  /** An LKE request arrived (the quota counts arrivals). */
  arrived(caller: Caller, at: number): void;
  /** A task-level refusal (not found) was answered. */
  refused(key: string, at: number): void;
}

export class LkeUpstream {
  private n = 0;
  private readonly arrivals: number[] = [];
  private readonly missed = new Set<string>();

  constructor(
    private readonly net: Net,
    private readonly tasks: Map<string, LkeTruth>,
    private readonly rates: LkeRates,
    private readonly limitPerSecond: number,
    private readonly log: UpstreamLog,
  ) {}

  sdkFor(caller: Caller): LkeSdk {
    return {
      request: (_action, request, { signal }) => {
        if (!caller.alive) return never();
        const req = request as { BotBizId: string; TaskType: string; TaskId: string };
        const key = `lke:${req.BotBizId}:${req.TaskType}:${req.TaskId}`;
        const fault = upstreamFault(this.net, { ...this.rates });
        const requestId = `lke-req-${++this.n}`;
        const exception = (message: string, code?: string) => {
          const error = new TencentCloudSDKHttpException(message, requestId);
          if (code) (error as { code?: string }).code = code;
          return error;
        };
        if (fault !== 'none') this.net.trace(`  fault ${fault} on LKE ${key} (${caller.id})`);
        if (fault === 'crash-before') {
          this.net.crash(caller, `died before LKE ${key}`);
          return never();
        }
        return trip(
          signal,
          this.net.rng.int(10, 40),
          fault === 'slow' ? 60_000 : fault === 'lag' ? lagMs(this.net) : this.net.rng.int(20, 150),
          caller,
          () => {
            const outcome = this.arrive(key, fault, caller, exception, requestId);
            if (fault !== 'crash-after') return outcome;
            this.net.crash(caller, `died after LKE ${key} answered`);
            return 'drop';
          },
          () => exception('The operation was aborted.'),
        );
      },
    };
  }

  private arrive(
    key: string,
    fault: string,
    caller: Caller,
    exception: (message: string, code?: string) => TencentCloudSDKHttpException,
    requestId: string,
  ): { answer: () => unknown } | { error: () => unknown } {
    const now = Date.now();
    this.log.arrived(caller, now);
    this.net.trace(`  LKE call from ${caller.id} arrives (${key})`);
    // Tencent's own limit: more than the quota in a sliding second is refused.
    this.arrivals.push(now);
    while ((this.arrivals[0] as number) <= now - 1000) this.arrivals.shift();
    if (this.arrivals.length > this.limitPerSecond || fault === 'throttle')
      return { error: () => exception('Request limit exceeded.', 'RequestLimitExceeded') };
    if (fault === 'error') return { error: () => exception('Internal error.', 'InternalError') };
    if (fault === 'cut') return { error: () => exception('socket hang up') };
    const truth = this.tasks.get(key);
    if (!truth?.known || (fault === 'missing' && missOnce(this.missed, key))) {
      this.log.refused(key, now);
      return { error: () => exception('The task does not exist.', 'ResourceNotFound') };
    }
    const state = [...truth.timeline].reverse().find((s) => s.at <= now);
    const response = {
      Status: state?.status ?? 'PENDING',
      Message: state?.message ?? '',
      Params: { CosPath: state?.cosPath ?? '' },
      RequestId: requestId,
    };
    this.log.reported(key, response, now);
    return { answer: () => response };
  }
}

// ---- SMH -----------------------------------------------------------------------------------------------------

export interface SmhTruth {
  key: string;
  libraryId: string;
  /** A space id, `-`, or null (library level). */
  spaceId: string | null;
  userId?: string;
  taskId: string;
  known: boolean;
  /** Statuses over time, each with the result as SMH writes it (JSON text, numbers digit for digit). */
  timeline: { at: number; status: number; result: string }[];
}

export interface SmhLibrary {
  libraryId: string;
  secret: string;
  /** How the library answers a request naming an id it does not know. */
  unknownIds: 'omit' | 'refuse';
}

export interface SmhRates {
  throttle: number;
  error: number;
  cut: number;
  slow: number;
  /** A valid token is refused as expired (403 InvalidAccessToken). */
  tokenRefused: number;
  /** The answer comes 100 ms to 2 s late. */
  lag: number;
  /** The calling process dies at this call: before it leaves, or after it arrived. */
  crash: number;
  /** One task of the request that SMH knows is answered as unknown, once. */
  missing: number;
}

export class SmhUpstream {
  private n = 0;
  private readonly tokens = new Map<string, number>();
  private readonly missed = new Set<string>();

  constructor(
    private readonly net: Net,
    private readonly tasks: Map<string, SmhTruth>,
    private readonly libraries: Map<string, SmhLibrary>,
    private readonly rates: SmhRates,
    private readonly log: UpstreamLog,
  ) {}

  fetchFor(caller: Caller): typeof fetch {
    return (input, init) => {
      if (!caller.alive) return never();
      const url = new URL(String(input));
      const fault = upstreamFault(this.net, { ...this.rates });
      if (fault !== 'none') this.net.trace(`  fault ${fault} on SMH ${url.pathname} (${caller.id})`);
      if (fault === 'crash-before') {
        this.net.crash(caller, `died before SMH ${url.pathname}`);
        return never();
      }
      const signal = init?.signal ?? undefined;
      const missing = fault === 'missing' ? this.net.rng.next() : undefined;
      return trip(
        signal,
        this.net.rng.int(5, 30),
        fault === 'slow' ? 60_000 : fault === 'lag' ? lagMs(this.net) : this.net.rng.int(10, 80),
        caller,
        () => {
          const outcome = this.arrive(url, fault, missing);
          if (fault !== 'crash-after') return outcome;
          this.net.crash(caller, `died after SMH ${url.pathname} answered`);
          return 'drop';
        },
        () => new DOMException('This operation was aborted', 'AbortError'),
      );
    };
  }

  private arrive(
    url: URL,
    fault: string,
    missing: number | undefined,
  ): { answer: () => Response } | { error: () => unknown } {
    if (fault === 'cut')
      return { error: () => new TypeError('fetch failed', { cause: { code: 'UND_ERR_SOCKET' } }) };
    const [status, body] =
      fault === 'throttle'
        ? [429, { code: 'RateLimitExceeded' }]
        : fault === 'error'
          ? [503, { code: 'ServiceUnavailable' }]
          : this.answer(url, fault === 'tokenRefused', missing);
    return { answer: () => this.response(status as number, body) };
  }

  private response(status: number, body: unknown): Response {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return new Response(status === 204 ? null : text, {
      status,
      headers: { 'content-type': 'application/json', 'x-smh-request-id': `smh-req-${++this.n}` },
    });
  }

  /** SMH's answer; `missing` (0 to 1) picks a known task of the request to answer as unknown. */
  private answer(url: URL, refuseToken: boolean, missing?: number): [number, unknown] {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[2] === 'token') {
      const library = this.libraries.get(url.searchParams.get('library_id') ?? '');
      if (!library || library.secret !== url.searchParams.get('library_secret'))
        return [403, { code: 'WrongLibraryIdOrSecret', message: 'wrong library id or secret' }];
      const token = `smh-token-${++this.n}`;
      const period = Number(url.searchParams.get('period') ?? 3600);
      this.tokens.set(token, Date.now() + period * 1000);
      return [200, { accessToken: token, expiresIn: period }];
    }
    // /api/v1/task/<library>[/<space>]/<ids>
    const [, , , libraryId, ...rest] = parts;
    const library = this.libraries.get(libraryId ?? '');
    if (!library) return [404, { code: 'LibraryNotFound' }];
    const expires = this.tokens.get(url.searchParams.get('access_token') ?? '');
    if (refuseToken || expires === undefined || expires < Date.now())
      return [403, { code: 'InvalidAccessToken', message: 'access token expired' }];
    const spaceId = rest.length === 2 ? (rest[0] as string) : null;
    const ids = (rest.at(-1) ?? '').split(',');
    const userId = url.searchParams.get('user_id') ?? undefined;
    const now = Date.now();
    const items: string[] = [];
    const missingAt = missing === undefined ? -1 : Math.floor(missing * ids.length);
    for (const [at, id] of ids.entries()) {
      const key = smhKey(library.libraryId, spaceId, id, userId);
      const truth = this.tasks.get(key);
      if (!truth?.known || (at === missingAt && missOnce(this.missed, key))) {
        this.log.refused(key, now);
        if (library.unknownIds === 'refuse')
          return [404, { code: 'TaskNotFound', message: `task ${id} not found` }];
        continue;
      }
      const state = [...truth.timeline].reverse().find((s) => s.at <= now) ?? { status: 202, result: 'null' };
      this.log.reported(key, state, now);
      items.push(`{"taskId":${id},"status":${state.status},"result":${state.result}}`);
    }
    return [200, `[${items.join(',')}]`];
  }
}

export function smhKey(libraryId: string, spaceId: string | null, taskId: string, userId?: string): string {
  return `smh:${libraryId}:${spaceId ?? '~'}:${taskId}:${userId ?? ''}`;
}

// ---- AWS hand-over -------------------------------------------------------------------------------------------

export interface Delivered {
  eventId: string;
  detailType: string;
  status: string;
  taskId: string;
  at: number;
  detail: string;
}

export interface Execution {
  token: string;
  /** The task it waits for (tracking id). */
  trackingId: string;
  /** Stopped by its owner, or its Lambda task failed: its token is refused from then on. */
  stopped: boolean;
  /** Its trackLke/trackSmh task answered: the tracker took the waiter on, and owes it a callback. */
  accepted: boolean;
  callbacks: { kind: 'success' | 'failure'; error?: string; output?: string; at: number }[];
  heartbeats: number;
}

export interface AwsEvents {
  delivered(event: Delivered): void;
  callback(
    execution: Execution,
    kind: 'success' | 'failure',
    payload: { error?: string; output?: string },
  ): void;
}

const awsError = (name: string, status: number, message = name) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

/** EventBridge and Step Functions, enforcing their limits, with faults. */
export class AwsEndpoint {
  constructor(
    private readonly net: Net,
    private readonly rates: Rates & { partial: number },
    readonly executions: Map<string, Execution>,
    private readonly events: AwsEvents,
  ) {}

  apiFor(caller: Caller): HandoverApi {
    const call = <T>(what: string, apply: () => T, signal?: AbortSignal): Promise<T> => {
      if (!caller.alive) return never();
      const fault = drawFault(this.net, this.rates);
      if (fault !== 'none') this.net.trace(`  fault ${fault} on ${what} (${caller.id})`);
      if (fault === 'crash-before') {
        this.net.crash(caller, `died before ${what}`);
        return never();
      }
      return trip(
        signal,
        this.net.rng.int(5, 40),
        fault === 'slow'
          ? this.net.rng.int(3_000, 8_000)
          : fault === 'lag'
            ? lagMs(this.net)
            : this.net.rng.int(5, 40),
        caller,
        () => {
          if (fault === 'fail') return { error: () => awsError('InternalFailure', 500) };
          if (fault === 'throttle')
            return { error: () => awsError('ThrottlingException', 400, 'Rate exceeded') };
          let result: T;
          try {
            result = apply();
          } catch (error) {
            return { error: () => error };
          }
          if (fault === 'crash-after') {
            this.net.crash(caller, `died after ${what} applied`);
            return 'drop';
          }
          if (fault === 'lose')
            return { error: () => Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }) };
          return { answer: () => result };
        },
        () => Object.assign(new Error('Request aborted'), { name: 'AbortError' }),
      );
    };
    return {
      putEvents: (entries, options) =>
        call(
          `PutEvents ×${entries.length}`,
          () => {
            if (entries.length > AWS_LIMITS.putEventsEntries)
              throw awsError('ValidationException', 400, 'PutEvents takes at most 10 entries');
            const size = entries.reduce((sum, e) => sum + putEventsEntrySize(e), 0);
            if (size > AWS_LIMITS.putEventsBytes)
              throw awsError('ValidationException', 400, `PutEvents request of ${size} bytes is over 256 KB`);
            const partial = this.net.faultsOn() && this.net.rng.chance(this.rates.partial);
            return entries.map((entry, n) => {
              if (partial && this.net.rng.chance(0.5))
                return { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' };
              const detail = JSON.parse(entry.Detail ?? '{}') as {
                eventId: string;
                status: string;
                id: string;
              };
              this.events.delivered({
                eventId: detail.eventId,
                detailType: entry.DetailType ?? '',
                status: detail.status,
                taskId: detail.id,
                at: Date.now(),
                detail: entry.Detail ?? '',
              });
              return { EventId: `evt-${n}-${detail.eventId}` };
            });
          },
          options?.signal,
        ),
      sendTaskSuccess: ({ taskToken, output }, options) =>
        call(
          'SendTaskSuccess',
          () => {
            const execution = this.waiting(taskToken);
            if (Buffer.byteLength(output) > AWS_LIMITS.taskOutputBytes)
              throw awsError('InvalidOutput', 400, 'output is over 256 KB');
            JSON.parse(output);
            execution.callbacks.push({ kind: 'success', output, at: Date.now() });
            this.events.callback(execution, 'success', { output });
            return {};
          },
          options?.signal,
        ),
      sendTaskFailure: ({ taskToken, error, cause }, options) =>
        call(
          'SendTaskFailure',
          () => {
            const execution = this.waiting(taskToken);
            if (error.length > AWS_LIMITS.taskErrorChars || cause.length > AWS_LIMITS.taskCauseChars)
              throw awsError('ValidationException', 400, 'error or cause too long');
            execution.callbacks.push({ kind: 'failure', error, at: Date.now() });
            this.events.callback(execution, 'failure', { error });
            return {};
          },
          options?.signal,
        ),
      sendTaskHeartbeat: ({ taskToken }, options) =>
        call(
          'SendTaskHeartbeat',
          () => {
            this.waiting(taskToken).heartbeats++;
            return {};
          },
          options?.signal,
        ),
    };
  }

  /** The execution still waiting on this token, or Step Functions' refusal. */
  private waiting(token: string): Execution {
    if (token.length > AWS_LIMITS.taskTokenChars) throw awsError('InvalidToken', 400, 'token too long');
    const execution = this.executions.get(token);
    if (!execution) throw awsError('InvalidToken', 400, 'Invalid token');
    if (execution.stopped) throw awsError('TaskDoesNotExist', 400, 'Task does not exist anymore');
    if (execution.callbacks.length > 0) throw awsError('TaskTimedOut', 400, 'Task Timed Out');
    return execution;
  }
}

/**
 * A task the upstream knows is answered as not found once at most (a glitch): twice, an interval apart, is how
 * the tracker tells a task that is gone (transitions `strike`), and the world would then be one where it is.
 */
function missOnce(missed: Set<string>, key: string): boolean {
  if (missed.has(key)) return false;
  missed.add(key);
  return true;
}
