import type { TrackingConfig } from '../config';
import { isFinished } from '../task';
import {
  CHANGED_DETAIL_TYPE,
  HISTORY_LIMIT,
  TERMINAL_DETAIL_TYPES,
  toPublic,
  trackingId,
  type NotifyTarget,
  type Observation,
  type OutboxEntry,
  type TaskIdentity,
  type TrackedStatus,
  type TrackedTask,
} from './model';

/**
 * Every change a tracked task can go through, as pure functions of (current record, event) → next record, or
 * null for "nothing to write". The store applies them with a conditional write on the version it read and
 * re-applies them to a fresh read when another writer got there first, so no update is lost and newer data is
 * never overwritten. Rules:
 * - a finished task never changes status again;
 * - an observation older than the stored one (`checkedAt`) is dropped;
 * - a poller only clears its own lease;
 * - a status change writes its notifications into the record's outbox in the same write.
 */
export type Schedule = Pick<
  TrackingConfig,
  'firstDelaySeconds' | 'baseIntervalSeconds' | 'backoffFactor' | 'maxIntervalSeconds' | 'maxAgeDays'
>;

export interface Context {
  now: number;
  schedule: Schedule;
  /** The poller invocation that holds the lease, when the change comes from a poller. */
  owner?: string;
}

/** A poller delivers what it enqueues at once; the sweep is the fallback, this long after the change. */
export const OUTBOX_SWEEP_DELAY_MS = 60_000;
const OUTBOX_MAX_RETRY_MS = 15 * 60_000;
const MAX_WAITERS = 10;
/** The `error` names SendTaskFailure uses, for a state machine's Catch. */
export const CALLBACK_ERRORS = ['TaskFailed', 'TaskExpired'] as const;

const iso = (ms: number) => new Date(ms).toISOString();

/** Seconds until the next check after `checks` checks: base × factor^(checks−1), capped. */
export function backoffSeconds(schedule: Schedule, checks: number): number {
  const exponent = Math.max(0, checks - 1);
  return Math.min(
    schedule.maxIntervalSeconds,
    schedule.baseIntervalSeconds * schedule.backoffFactor ** exponent,
  );
}

export function isPastMaxAge(task: TrackedTask, ctx: Context): boolean {
  return ctx.now - Date.parse(task.firstSeenAt) > ctx.schedule.maxAgeDays * 86_400_000;
}

/** When a poller should next pick the record up (check, outbox, or end of a lease); null: never again. */
export function dueAt(task: TrackedTask): number | null {
  if (task.lease) return Date.parse(task.lease.until);
  const times: number[] = [];
  if (!isFinished(task.status) && task.nextCheckAt) times.push(Date.parse(task.nextCheckAt));
  if (task.outbox.length > 0) times.push(task.outboxDueAt ? Date.parse(task.outboxDueAt) : 0);
  return times.length > 0 ? Math.min(...times) : null;
}

/** Due for an upstream check (not merely for delivering its outbox)? */
export function isDueForCheck(task: TrackedTask, ctx: Context): boolean {
  return !isFinished(task.status) && task.nextCheckAt !== null && Date.parse(task.nextCheckAt) <= ctx.now;
}

export function newTask(
  identity: TaskIdentity,
  ctx: Context,
  notify: NotifyTarget | null = null,
): TrackedTask {
  const now = iso(ctx.now);
  return {
    id: trackingId(identity),
    identity,
    status: 'pending',
    upstreamStatus: null,
    result: null,
    message: '',
    attempts: 0,
    errors: 0,
    lastError: null,
    firstSeenAt: now,
    lastCheckedAt: null,
    nextCheckAt: iso(ctx.now + ctx.schedule.firstDelaySeconds * 1000),
    finishedAt: null,
    history: [{ status: 'pending', upstreamStatus: null, at: now }],
    version: 0,
    lease: null,
    notify: notify && notify.taskTokens.length > 0 ? notify : null,
    outbox: [],
    outboxDueAt: null,
  };
}

function leaseAfter(task: TrackedTask, ctx: Context) {
  return task.lease && task.lease.owner !== ctx.owner && Date.parse(task.lease.until) > ctx.now
    ? task.lease
    : null;
}

function callbacksFor(task: TrackedTask, tokens: string[], idBase: string): OutboxEntry[] {
  const { provider } = task.identity;
  const subject = `${provider.toUpperCase()} task ${task.identity.taskId} (tracking id ${task.id})`;
  return tokens.map((taskToken, n) =>
    task.status === 'succeeded'
      ? {
          id: `${idBase}.cb${n}`,
          kind: 'callback',
          taskToken,
          outcome: 'success',
          output: toPublic(task),
          attempts: 0,
        }
      : {
          id: `${idBase}.cb${n}`,
          kind: 'callback',
          taskToken,
          outcome: 'failure',
          error: task.status === 'expired' ? CALLBACK_ERRORS[1] : CALLBACK_ERRORS[0],
          cause: `${subject} ${task.status}${task.message ? `: ${task.message}` : ''}`.slice(0, 32_768),
          attempts: 0,
        },
  );
}

/**
 * The record after a status change, with its notifications queued: a `Task Status Changed` event, the terminal
 * event (`Task Succeeded` / `Task Failed` / `Task Expired`), and a callback for every waiting execution. Event
 * ids are `<tracking id>.v<version>…`: unique per change and the same on every redelivery.
 */
function announce(before: TrackedTask, after: TrackedTask, ctx: Context): TrackedTask {
  if (after.status === before.status) return after;
  const idBase = `${after.id}.v${before.version + 1}`;
  const detail = toPublic(after);
  const entries: OutboxEntry[] = [
    {
      id: `${idBase}.changed`,
      kind: 'event',
      detailType: CHANGED_DETAIL_TYPE,
      detail,
      at: iso(ctx.now),
      attempts: 0,
    },
  ];
  let notify = after.notify;
  if (isFinished(after.status)) {
    const detailType = TERMINAL_DETAIL_TYPES[after.status as keyof typeof TERMINAL_DETAIL_TYPES];
    entries.push({ id: `${idBase}.final`, kind: 'event', detailType, detail, at: iso(ctx.now), attempts: 0 });
    entries.push(...callbacksFor(after, after.notify?.taskTokens ?? [], idBase));
    notify = null; // every waiter now has its callback queued
  }
  return {
    ...after,
    notify,
    outbox: [...after.outbox, ...entries],
    outboxDueAt: iso(ctx.now + (ctx.owner !== undefined ? OUTBOX_SWEEP_DELAY_MS : 0)),
  };
}

function withStatus(
  task: TrackedTask,
  status: TrackedStatus,
  upstreamStatus: string | number | null,
  at: string,
) {
  if (status === task.status) return task.history;
  return [...task.history, { status, upstreamStatus, at }].slice(-HISTORY_LIMIT);
}

/** An upstream reading. From a poller it also reschedules; from an on-demand query it keeps the schedule. */
export function observe(task: TrackedTask, observation: Observation, ctx: Context): TrackedTask | null {
  if (isFinished(task.status)) return null;
  if (task.lastCheckedAt !== null && task.lastCheckedAt >= observation.checkedAt) {
    return dropLease(task, ctx); // newer data is already stored: keep it, just let go of our lease
  }
  const attempts = task.attempts + 1;
  const finished = isFinished(observation.status);
  const fromPoller = ctx.owner !== undefined;
  const next: TrackedTask = {
    ...task,
    status: observation.status,
    upstreamStatus: observation.upstreamStatus,
    result: observation.result,
    message: observation.message,
    attempts,
    errors: 0,
    lastError: null,
    lastCheckedAt: observation.checkedAt,
    nextCheckAt: finished
      ? null
      : fromPoller || task.nextCheckAt === null
        ? iso(ctx.now + backoffSeconds(ctx.schedule, attempts) * 1000)
        : task.nextCheckAt,
    finishedAt: finished ? observation.checkedAt : null,
    history: withStatus(task, observation.status, observation.upstreamStatus, observation.checkedAt),
    lease: finished ? null : leaseAfter(task, ctx),
  };
  return announce(task, next, ctx);
}

/** A check that failed (upstream error, unreadable record): counted, remembered, retried later with backoff. */
export function failCheck(task: TrackedTask, error: { code: string; message: string }, ctx: Context) {
  if (isFinished(task.status)) return null;
  const attempts = task.attempts + 1;
  const errors = task.errors + 1;
  return {
    ...task,
    attempts,
    errors,
    lastError: { code: error.code, message: error.message, at: iso(ctx.now) },
    nextCheckAt: iso(ctx.now + backoffSeconds(ctx.schedule, Math.max(attempts, errors)) * 1000),
    lease: leaseAfter(task, ctx),
  };
}

/** The task ends without a final upstream answer: past its max age, or the upstream no longer knows it. */
export function expire(task: TrackedTask, message: string, ctx: Context): TrackedTask | null {
  if (isFinished(task.status)) return null;
  const at = iso(ctx.now);
  const next: TrackedTask = {
    ...task,
    status: 'expired',
    message,
    nextCheckAt: null,
    finishedAt: at,
    history: withStatus(task, 'expired', task.upstreamStatus, at),
    lease: null,
  };
  return announce(task, next, ctx);
}

/** Gives a claimed task back unchecked (deadline, throttling): due again at `dueAt`, nothing else changes. */
export function release(task: TrackedTask, ctx: Context, due = ctx.now): TrackedTask | null {
  if (task.lease?.owner !== ctx.owner) return null;
  return isFinished(task.status) ? { ...task, lease: null } : { ...task, nextCheckAt: iso(due), lease: null };
}

/** Lets go of the caller's lease and nothing else (the schedule stays as stored). */
export function dropLease(task: TrackedTask, ctx: Context): TrackedTask | null {
  return ctx.owner !== undefined && task.lease?.owner === ctx.owner ? { ...task, lease: null } : null;
}

/** A poller takes a due task for this run; the lease ends by itself at `until`. */
export function claim(
  task: TrackedTask,
  ctx: Context & { owner: string },
  until: number,
): TrackedTask | null {
  const due = dueAt(task);
  if (due === null || due > ctx.now) return null;
  return { ...task, lease: { owner: ctx.owner, until: iso(until) } };
}

/**
 * Adds a waiting Step Functions execution. On a finished task its callback is queued at once (the next poll
 * delivers it); the same token twice is kept once.
 */
export function addWaiter(task: TrackedTask, notify: NotifyTarget, ctx: Context): TrackedTask | null {
  const known = new Set([
    ...(task.notify?.taskTokens ?? []),
    ...task.outbox.flatMap((e) => (e.kind === 'callback' ? [e.taskToken] : [])),
  ]);
  const fresh = notify.taskTokens.filter((token) => !known.has(token));
  if (fresh.length === 0 && (task.notify?.heartbeat ?? false) === notify.heartbeat) return null;
  if (isFinished(task.status)) {
    if (fresh.length === 0) return null;
    const idBase = `${task.id}.v${task.version + 1}`;
    return {
      ...task,
      outbox: [...task.outbox, ...callbacksFor(task, fresh, idBase)],
      outboxDueAt: iso(ctx.now),
    };
  }
  const taskTokens = [...(task.notify?.taskTokens ?? []), ...fresh].slice(-MAX_WAITERS);
  return {
    ...task,
    notify: { taskTokens, heartbeat: notify.heartbeat || (task.notify?.heartbeat ?? false) },
  };
}

/** Drops waiters whose tokens Step Functions no longer accepts (found out by a heartbeat). */
export function dropWaiters(task: TrackedTask, tokens: string[]): TrackedTask | null {
  if (!task.notify || tokens.length === 0) return null;
  const taskTokens = task.notify.taskTokens.filter((t) => !tokens.includes(t));
  return { ...task, notify: taskTokens.length > 0 ? { ...task.notify, taskTokens } : null };
}

/**
 * After a delivery attempt: removes the entries that are done (delivered, or dropped for good), counts an
 * attempt on the others and schedules the next sweep with backoff. Clears the caller's lease.
 */
export function settleOutbox(task: TrackedTask, tried: Set<string>, done: Set<string>, ctx: Context) {
  const outbox = task.outbox
    .filter((entry) => !done.has(entry.id))
    .map((entry) => (tried.has(entry.id) ? { ...entry, attempts: entry.attempts + 1 } : entry));
  const attempts = Math.max(0, ...outbox.map((e) => e.attempts));
  const retryIn = Math.min(OUTBOX_MAX_RETRY_MS, 30_000 * 2 ** Math.max(0, attempts - 1));
  return {
    ...task,
    outbox,
    outboxDueAt: outbox.length > 0 ? iso(ctx.now + retryIn) : null,
    lease: leaseAfter(task, ctx),
  };
}
