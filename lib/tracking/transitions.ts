import type { TrackingConfig } from '../config';
import { isFinished } from '../task';
import {
  HISTORY_LIMIT,
  trackingId,
  type NotifyTarget,
  type Observation,
  type TaskIdentity,
  type TrackedStatus,
  type TrackedTask,
} from './model';

/**
 * Every change a tracked task can go through, as pure functions of (current record, event) → next record, or
 * null for "nothing to write". The store applies them with a conditional write on the version it read and
 * re-applies them to a fresh read when another writer got there first, so no update is lost and newer data is
 * never overwritten. Rules:
 * - a finished task never changes again;
 * - an observation older than the stored one (`checkedAt`) is dropped;
 * - a poller only clears its own lease.
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
    notify,
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

function leaseAfter(task: TrackedTask, ctx: Context) {
  return task.lease && task.lease.owner !== ctx.owner && Date.parse(task.lease.until) > ctx.now
    ? task.lease
    : null;
}

/** An upstream reading. From a poller it also reschedules; from an on-demand query it keeps the schedule. */
export function observe(task: TrackedTask, observation: Observation, ctx: Context): TrackedTask | null {
  if (isFinished(task.status)) return null;
  if (task.lastCheckedAt !== null && task.lastCheckedAt >= observation.checkedAt) {
    return releaseLease(task, ctx); // newer data is already stored: keep it, just let go of our lease
  }
  const attempts = task.attempts + 1;
  const finished = isFinished(observation.status);
  const fromPoller = ctx.owner !== undefined;
  return {
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
  return {
    ...task,
    status: 'expired',
    message,
    nextCheckAt: null,
    finishedAt: at,
    history: withStatus(task, 'expired', task.upstreamStatus, at),
    lease: null,
  };
}

/** Gives a claimed task back unchecked (deadline, throttling): due again at `dueAt`, nothing else changes. */
export function release(task: TrackedTask, ctx: Context, dueAt = ctx.now): TrackedTask | null {
  if (isFinished(task.status) || task.lease?.owner !== ctx.owner) return null;
  return { ...task, nextCheckAt: iso(dueAt), lease: null };
}

function releaseLease(task: TrackedTask, ctx: Context): TrackedTask | null {
  return ctx.owner !== undefined && task.lease?.owner === ctx.owner ? { ...task, lease: null } : null;
}

/** A poller takes a due task for this run; the lease ends by itself at `until`. */
export function claim(
  task: TrackedTask,
  ctx: Context & { owner: string },
  until: number,
): TrackedTask | null {
  if (isFinished(task.status)) return null;
  const due = task.lease ? Date.parse(task.lease.until) : Date.parse(task.nextCheckAt ?? task.firstSeenAt);
  if (due > ctx.now) return null;
  return { ...task, lease: { owner: ctx.owner, until: iso(until) } };
}
