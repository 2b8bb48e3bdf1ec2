import { backoffMs, OUTBOX_RETRY, type BackoffPolicy } from '../backoff';
import type { TrackingConfig } from '../config';
import { ConflictError } from '../errors';
import { sameJson } from '../json';
import { CHANGED_DETAIL_TYPE, TERMINAL_DETAIL_TYPES, clip } from '../handover/payloads';
import { isFinished } from '../task';
import {
  HISTORY_LIMIT,
  MAX_WAITERS,
  trackingId,
  UNDELIVERED_LIMIT,
  waiterTokens,
  type DeadLetter,
  type NotifyTarget,
  type Observation,
  type OutboxEntry,
  type TaskIdentity,
  type TrackedStatus,
  type TrackedTask,
} from './model';

/**
 * The task state machine: every change a tracked task can go through, as pure functions of (current record,
 * event) → next record, or null for "nothing to write". The store applies them with a conditional write on the
 * version it read and re-applies them to a fresh read when another writer got there first, so no update is lost
 * and newer data is never overwritten. Rules:
 * - a finished task never changes status again (an `expired` one can be re-tracked: `reopen`);
 * - an observation older than the stored one (`checkedAt`) is dropped;
 * - a poller only clears its own lease;
 * - a status change queues its notifications in the record's outbox in the same write (what they say is
 *   lib/handover's business);
 * - the backoff follows the pollers' own checks; on-demand reads never speed it up.
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
/** Delivery attempts per outbox entry before it becomes a dead letter (≈ 2.5 h with OUTBOX_RETRY). */
export const OUTBOX_MAX_ATTEMPTS = 12;
/** Messages kept on a record are cut to this many characters. */
const MAX_MESSAGE_CHARS = 4096;

/**
 * Consecutive task-level refusals that end a task as `expired`, if they span at least one check interval:
 * "not found" twice (an answer that leaves a task out once may be a glitch), any other refusal three times.
 */
export const GONE_AFTER = { notFound: 2, refused: 3 } as const;

const iso = (ms: number) => new Date(ms).toISOString();
/** Cut on a whole character (a lone surrogate is no text DynamoDB or JSON readers take). */
const bounded = (text: string, max = MAX_MESSAGE_CHARS) => clip(text, max);

/** The pollers' backoff: base × factor^(checks−1), capped at the max interval. */
export function pollBackoff(schedule: Schedule): BackoffPolicy {
  return {
    baseMs: schedule.baseIntervalSeconds * 1000,
    factor: schedule.backoffFactor,
    maxMs: schedule.maxIntervalSeconds * 1000,
    jitter: 'none',
  };
}

/** When the next check is due after the pollers' `polls`-th check. */
function nextCheck(ctx: Context, polls: number): string {
  return iso(ctx.now + backoffMs(pollBackoff(ctx.schedule), polls - 1));
}

export function isPastMaxAge(task: TrackedTask, ctx: Context, graceMs = 0): boolean {
  return ctx.now - Date.parse(task.trackedAt) > ctx.schedule.maxAgeDays * 86_400_000 + graceMs;
}

/**
 * How long past its max age a task may wait for its last check (throttled, out of the runs' time) before it is
 * given up without one: an hour, or two of its longest intervals.
 */
export function lastCheckGraceMs(schedule: Schedule): number {
  return Math.max(3_600_000, 2 * schedule.maxIntervalSeconds * 1000);
}

/** When the earliest outbox entry is due for (re)delivery; null when nothing is owed. */
export function outboxDueAt(task: TrackedTask): number | null {
  return task.outbox.length > 0 ? Math.min(...task.outbox.map((e) => Date.parse(e.nextAttemptAt))) : null;
}

/**
 * When a poller should next pick the record up (check, outbox), and never before a lease ends; null: never
 * again.
 */
export function dueAt(task: TrackedTask): number | null {
  const times: number[] = [];
  if (!isFinished(task.status) && task.nextCheckAt) times.push(Date.parse(task.nextCheckAt));
  const outbox = outboxDueAt(task);
  if (outbox !== null) times.push(outbox);
  const free = times.length > 0 ? Math.min(...times) : null;
  if (!task.lease) return free;
  const until = Date.parse(task.lease.until);
  return free === null ? until : Math.max(until, free);
}

/** Claimed by this poller for a check (rather than only to deliver its outbox)? */
export function isClaimedForCheck(task: TrackedTask, owner: string): boolean {
  return task.lease?.owner === owner && task.lease.check !== undefined;
}

/**
 * Undoes what a claim wrote up front for its check (one more check, the next check time), whoever made it. What
 * other writers changed meanwhile (an on-demand reading) stays. The lease itself stays, without its check.
 */
function undoClaim(task: TrackedTask): TrackedTask {
  const lease = task.lease;
  if (!lease?.check) return task;
  const before = lease.check;
  return {
    ...task,
    attempts: task.attempts - 1,
    polls: before.polls,
    nextCheckAt: before.nextCheckAt,
    lastCheckedAt: task.lastCheckedAt === before.at ? before.lastCheckedAt : task.lastCheckedAt,
    lease: { owner: lease.owner, until: lease.until },
  };
}

/**
 * Undoes what this poller's claim wrote up front for its check, before any other outcome is applied: a failed,
 * refused, throttled or given-back check counts as it always did.
 */
function unclaimed(task: TrackedTask, ctx: Context): TrackedTask {
  return ctx.owner !== undefined && task.lease?.owner === ctx.owner ? undoClaim(task) : task;
}

/**
 * Whether a write may apply a poller's outcome: only while its claim holds (on-demand writers, without an
 * owner, always may). A poller whose write landed but whose answer was lost, after another writer landed too,
 * cannot recognise its write by its `writeId` and applies its transition again to the fresh record: the first
 * one already let the lease go, so the second changes nothing (a check is never counted twice).
 */
function heldBy(task: TrackedTask, ctx: Context): boolean {
  return ctx.owner === undefined || task.lease?.owner === ctx.owner;
}

/** A lease that ended while it still holds the check its poller wrote up front: that poller's run is over. */
export function isStaleCheck(task: TrackedTask, now: number): boolean {
  return !!task.lease?.check && Date.parse(task.lease.until) <= now;
}

/**
 * Settles a stale lease (`isStaleCheck`) for whoever writes the record next. The poller that claimed it keeps
 * a list of the checks it made and did not write (an unchanged reading, `isUnchangedCheck`) in its run record:
 * a check it `made` stays counted; one it did not (the run died, or could not give the task back) is undone, so
 * `attempts`, `polls`, `lastCheckedAt` and the backoff count only checks that were made.
 */
export function settleStaleLease(task: TrackedTask, made: boolean): TrackedTask {
  if (!task.lease?.check) return task;
  return { ...(made ? task : undoClaim(task)), lease: null };
}

/**
 * Whether a poller's reading changes nothing its claim did not already write: same status, upstream status,
 * message and result, nothing to clear (strikes, last error, a cut result), no notification due, and a next
 * check that comes after the lease ends (a lease still held then would delay it). Then the check needs no write.
 */
export function isUnchangedCheck(task: TrackedTask, observation: Observation, ctx: Context): boolean {
  return (
    isClaimedForCheck(task, ctx.owner ?? '') &&
    (outboxDueAt(task) ?? Infinity) > ctx.now && // owed notifications go out with a write, as always
    task.nextCheckAt !== null &&
    Date.parse(task.nextCheckAt) >= Date.parse((task.lease as { until: string }).until) &&
    !isFinished(task.status) &&
    observation.status === task.status &&
    observation.upstreamStatus === task.upstreamStatus &&
    bounded(observation.message) === task.message &&
    task.strikes === null &&
    task.lastError === null &&
    task.resultTruncated === null &&
    (task.lease?.check?.lastCheckedAt ?? '') < observation.checkedAt && // not older than what was stored
    sameJson(observation.result, task.result)
  );
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
  const task: TrackedTask = {
    id: trackingId(identity),
    identity,
    status: 'pending',
    upstreamStatus: null,
    result: null,
    resultTruncated: null,
    message: '',
    attempts: 0,
    polls: 0,
    strikes: null,
    lastError: null,
    firstSeenAt: now,
    trackedAt: now,
    lastCheckedAt: null,
    nextCheckAt: iso(ctx.now + ctx.schedule.firstDelaySeconds * 1000),
    finishedAt: null,
    history: [{ status: 'pending', upstreamStatus: null, at: now }],
    version: 0,
    lease: null,
    notify: null,
    outbox: [],
    undelivered: [],
  };
  return notify ? (addWaiter(task, notify, ctx) ?? task) : task;
}

function leaseAfter(task: TrackedTask, ctx: Context) {
  return task.lease && task.lease.owner !== ctx.owner && Date.parse(task.lease.until) > ctx.now
    ? task.lease
    : null;
}

function callbacks(tokens: string[], idBase: string, at: string, nextAttemptAt: string): OutboxEntry[] {
  return tokens.map((taskToken, n) => ({
    id: `${idBase}.cb${n}`,
    kind: 'callback',
    taskToken,
    at,
    attempts: 0,
    nextAttemptAt,
  }));
}

/**
 * The record after a status change, with its notifications queued: a `Task Status Changed` event, the terminal
 * event (`Task Succeeded` / `Task Failed` / `Task Expired`), and a callback for every waiting execution. Event
 * ids are `<tracking id>.v<version>…`: unique per change and the same on every redelivery. From a poller they
 * are due for the sweep a minute later (the poller delivers them at once); otherwise at once.
 */
function announce(before: TrackedTask, after: TrackedTask, ctx: Context): TrackedTask {
  if (after.status === before.status) return after;
  const idBase = `${after.id}.v${before.version + 1}`;
  const at = iso(ctx.now);
  const nextAttemptAt = iso(ctx.now + (ctx.owner !== undefined ? OUTBOX_SWEEP_DELAY_MS : 0));
  const change = { status: after.status, upstreamStatus: after.upstreamStatus, message: after.message };
  const entries: OutboxEntry[] = [
    {
      id: `${idBase}.changed`,
      kind: 'event',
      detailType: CHANGED_DETAIL_TYPE,
      ...change,
      at,
      attempts: 0,
      nextAttemptAt,
    },
  ];
  let notify = after.notify;
  if (isFinished(after.status)) {
    const detailType = TERMINAL_DETAIL_TYPES[after.status as keyof typeof TERMINAL_DETAIL_TYPES];
    entries.push({
      id: `${idBase}.final`,
      kind: 'event',
      detailType,
      ...change,
      at,
      attempts: 0,
      nextAttemptAt,
    });
    entries.push(...callbacks(after.notify?.taskTokens ?? [], idBase, at, nextAttemptAt));
    notify = null; // every waiter now has its callback queued
  }
  // Two changes in one write (an expired task reopened by a reading) announce once: the status it ends in.
  const ids = new Set(entries.map((e) => e.id));
  return { ...after, notify, outbox: [...after.outbox.filter((e) => !ids.has(e.id)), ...entries] };
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

/**
 * An upstream reading. From a poller it also reschedules; from an on-demand query it keeps the schedule. A reading
 * older than the last one stored is dropped, unless it is final: a final status never changes upstream, so it
 * wins whenever it was read (and takes back a check a poller wrote up front: if that check happens, it finds the
 * task finished and changes nothing). An on-demand reading is compared with the last reading a check made, not
 * with a check a poller has only claimed.
 */
export function observe(claimed: TrackedTask, observation: Observation, ctx: Context): TrackedTask | null {
  if (isFinished(claimed.status) || !heldBy(claimed, ctx)) return null;
  const finished = isFinished(observation.status);
  const fromPoller = ctx.owner !== undefined;
  const task = fromPoller ? unclaimed(claimed, ctx) : finished ? undoClaim(claimed) : claimed;
  const pending = !fromPoller ? task.lease?.check : undefined; // a poller's check in flight
  const lastRead = pending ? pending.lastCheckedAt : task.lastCheckedAt;
  if (!finished && lastRead !== null && lastRead >= observation.checkedAt) {
    return dropLease(task, ctx); // newer data is already stored: keep it, just let go of our lease
  }
  const polls = task.polls + (fromPoller ? 1 : 0);
  const lease = finished ? null : leaseAfter(task, ctx);
  const next: TrackedTask = {
    ...task,
    status: observation.status,
    upstreamStatus: observation.upstreamStatus,
    result: observation.result,
    resultTruncated: null,
    message: bounded(observation.message),
    attempts: task.attempts + 1,
    polls,
    strikes: null,
    lastError: null,
    lastCheckedAt: observation.checkedAt,
    nextCheckAt: finished
      ? null
      : fromPoller || task.nextCheckAt === null
        ? nextCheck(ctx, polls)
        : task.nextCheckAt,
    finishedAt: finished ? observation.checkedAt : null,
    history: withStatus(task, observation.status, observation.upstreamStatus, observation.checkedAt),
    // Under a poller's check in flight, this reading is now the last one made (an undo keeps it).
    lease: lease?.check
      ? { ...lease, check: { ...lease.check, lastCheckedAt: observation.checkedAt } }
      : lease,
  };
  return announce(task, next, ctx);
}

export interface Failure {
  code: string;
  message: string;
}

/** A poller's check that failed for a reason that says nothing about the task (throttling, outage, auth…). */
export function failCheck(claimed: TrackedTask, failure: Failure, ctx: Context): TrackedTask | null {
  if (isFinished(claimed.status) || !heldBy(claimed, ctx)) return null;
  const task = unclaimed(claimed, ctx);
  const polls = task.polls + 1;
  return {
    ...task,
    attempts: task.attempts + 1,
    polls,
    lastError: { code: failure.code, message: bounded(failure.message, 1024), at: iso(ctx.now) },
    nextCheckAt: nextCheck(ctx, polls),
    lease: leaseAfter(task, ctx),
  };
}

/**
 * A poller's check answered a refusal about this very task: not found, or a non-transient error. Consecutive
 * refusals with the same code are counted; after `after` of them, spanning at least one check interval, the
 * task ends `expired` with that refusal as its message. Anything else the upstream answers resets the count.
 */
export function strike(
  claimed: TrackedTask,
  failure: Failure,
  ctx: Context,
  after: number,
  goneMessage: string,
): TrackedTask | null {
  if (isFinished(claimed.status) || !heldBy(claimed, ctx)) return null;
  const task = unclaimed(claimed, ctx);
  const same = task.strikes?.code === failure.code;
  const strikes = {
    code: failure.code,
    count: same ? (task.strikes as { count: number }).count + 1 : 1,
    since: same ? (task.strikes as { since: string }).since : iso(ctx.now),
  };
  const spanned = ctx.now - Date.parse(strikes.since) >= ctx.schedule.baseIntervalSeconds * 1000;
  if (strikes.count >= after && spanned) {
    return expire({ ...task, attempts: task.attempts + 1, strikes }, goneMessage, ctx);
  }
  const failed = failCheck(task, failure, ctx) as TrackedTask;
  return { ...failed, strikes };
}

/** The task ends without a final upstream answer: past its max age, or the upstream no longer knows it. */
export function expire(claimed: TrackedTask, message: string, ctx: Context): TrackedTask | null {
  if (isFinished(claimed.status) || !heldBy(claimed, ctx)) return null;
  // A task claimed for a check that passed its max age before the check: the check is not made.
  const task = unclaimed(claimed, ctx);
  const at = iso(ctx.now);
  const next: TrackedTask = {
    ...task,
    status: 'expired',
    message: bounded(message),
    nextCheckAt: null,
    finishedAt: at,
    history: withStatus(task, 'expired', task.upstreamStatus, at),
    lease: null,
  };
  return announce(task, next, ctx);
}

/**
 * A caller stops tracking the task (`DELETE /tasks/{id}`, `untrackTask`): it is not checked again and ends
 * `untracked`, saying when and by which request; it is kept for RETENTION_DAYS like any finished record. Its
 * notifications go out like any terminal change's: a `Task Untracked` event, and `SendTaskFailure`
 * `TaskUntracked` for every waiting execution, queued in the same write. A poller's check in flight is taken
 * back: its outcome no longer applies (the lease is gone). A finished task (and an untracked one: untracking
 * twice) is left as it is: nothing is being checked.
 */
export function untrack(task: TrackedTask, requestId: string, ctx: Context): TrackedTask | null {
  if (isFinished(task.status)) return null;
  const base = undoClaim(task);
  const at = iso(ctx.now);
  const provider = task.identity.provider.toUpperCase();
  const next: TrackedTask = {
    ...base,
    status: 'untracked',
    message: bounded(
      `Untracked by request ${requestId}: no longer checked (the ${provider} task itself was not cancelled)`,
    ),
    nextCheckAt: null,
    finishedAt: at,
    history: withStatus(base, 'untracked', base.upstreamStatus, at),
    lease: null,
    untracked: { at, requestId },
  };
  return announce(base, next, ctx);
}

/**
 * A task past its max age is checked once more before it is given up (a task that finished in its last interval
 * ends as it finished, not `expired`): `checked` is that check's outcome as written (a reading, a failure, a
 * refusal). Final, it stands; otherwise the task ends `expired` in the same write, the check counted and its
 * finding kept (the last error names a failure). One change is announced: the status the write ends in.
 */
export function giveUpAfterCheck(
  before: TrackedTask,
  checked: TrackedTask | null,
  maxAgeDays: number,
  ctx: Context,
): TrackedTask | null {
  if (checked === null || isFinished(checked.status)) return checked;
  const at = iso(ctx.now);
  const next: TrackedTask = {
    ...checked,
    status: 'expired',
    message: bounded(maxAgeMessage(checked, maxAgeDays)),
    nextCheckAt: null,
    finishedAt: at,
    history: withStatus(checked, 'expired', checked.upstreamStatus, at),
    lease: null,
  };
  return announce(before, next, ctx);
}

/** The message of a task given up on at its max age: says why, and what went wrong last. */
export function maxAgeMessage(task: TrackedTask, maxAgeDays: number): string {
  const last = task.lastError ? ` (last error: ${task.lastError.code}: ${task.lastError.message})` : '';
  return `Gave up: no final status after ${maxAgeDays} days${last}`;
}

/**
 * Tracking an `expired` or `untracked` task again: it goes back to `pending`, is checked afresh (the max age
 * counts from now), and executions whose `TaskExpired` / `TaskUntracked` callback was not delivered yet keep
 * waiting instead.
 */
export function reopen(task: TrackedTask, ctx: Context): TrackedTask | null {
  if (!isReopenable(task.status)) return null;
  const now = iso(ctx.now);
  const tokens = waiterTokens(task);
  const { untracked: _untracked, ...rest } = task;
  const next: TrackedTask = {
    ...rest,
    status: 'pending',
    message: '',
    polls: 0,
    strikes: null,
    lastError: null,
    trackedAt: now,
    nextCheckAt: iso(ctx.now + ctx.schedule.firstDelaySeconds * 1000),
    finishedAt: null,
    history: withStatus(task, 'pending', null, now),
    lease: null,
    notify: tokens.length > 0 ? { taskTokens: tokens, heartbeat: task.notify?.heartbeat ?? false } : null,
    outbox: task.outbox.filter((e) => e.kind === 'event'),
  };
  return announce(task, next, ctx);
}

/**
 * Gives a claimed task back unchecked: due again at `due` (after a throttling pause), or else at the time it was
 * due before the claim, so that it keeps its place among the due tasks (the longest-due are claimed first).
 */
export function release(claimed: TrackedTask, ctx: Context, due?: number): TrackedTask | null {
  if (claimed.lease?.owner !== ctx.owner) return null;
  const task = unclaimed(claimed, ctx);
  if (isFinished(task.status) || due === undefined) return { ...task, lease: null };
  return { ...task, nextCheckAt: iso(due), lease: null };
}

/** Ended by us, not upstream: tracking the task again checks it again. */
export function isReopenable(status: TrackedStatus): boolean {
  return status === 'expired' || status === 'untracked';
}

/** Lets go of the caller's lease and nothing else (the schedule stays as stored). */
export function dropLease(task: TrackedTask, ctx: Context): TrackedTask | null {
  return ctx.owner !== undefined && task.lease?.owner === ctx.owner
    ? { ...unclaimed(task, ctx), lease: null }
    : null;
}

/**
 * A poller takes a due task for this run; the lease ends by itself at `until`. A task due for a check gets, in
 * the same write, what an unchanged answer would store (one more check, the next check time after backoff): most
 * checks change nothing, and then the claim is their only write. Any other outcome undoes it first.
 */
export function claim(
  task: TrackedTask,
  ctx: Context & { owner: string },
  until: number,
): TrackedTask | null {
  const due = dueAt(task);
  if (due === null || due > ctx.now) return null;
  const lease = { owner: ctx.owner, until: iso(until) };
  if (!isDueForCheck(task, ctx)) return { ...task, lease };
  const at = iso(ctx.now);
  const polls = task.polls + 1;
  const check = {
    at,
    attempts: task.attempts,
    polls: task.polls,
    nextCheckAt: task.nextCheckAt,
    lastCheckedAt: task.lastCheckedAt,
  };
  return {
    ...task,
    attempts: task.attempts + 1,
    polls,
    lastCheckedAt: at,
    nextCheckAt: nextCheck(ctx, polls),
    lease: { ...lease, check },
  };
}

/**
 * Adds a waiting Step Functions execution. On a finished task its callback is queued at once (the next poll
 * delivers it); the same token twice is kept once. A task keeps at most MAX_WAITERS executions: one more is
 * refused with 409 TooManyWaiters, so no waiter is ever dropped without a word.
 */
export function addWaiter(task: TrackedTask, notify: NotifyTarget, ctx: Context): TrackedTask | null {
  const known = new Set(waiterTokens(task));
  const fresh = notify.taskTokens.filter((token) => !known.has(token));
  if (known.size + fresh.length > MAX_WAITERS) {
    throw new ConflictError(
      `Task ${task.id} already has ${known.size} waiting executions, the most one task keeps (${MAX_WAITERS}); ` +
        'wait on an EventBridge rule for its events instead, or track again once some have been called back',
      'TooManyWaiters',
    );
  }
  const heartbeat = notify.heartbeat || (task.notify?.heartbeat ?? false);
  if (fresh.length === 0 && (task.notify?.heartbeat ?? false) === heartbeat) return null;
  if (isFinished(task.status)) {
    if (fresh.length === 0) return null;
    const idBase = `${task.id}.v${task.version + 1}`;
    const now = iso(ctx.now);
    return { ...task, outbox: [...task.outbox, ...callbacks(fresh, idBase, now, now)] };
  }
  return { ...task, notify: { taskTokens: [...(task.notify?.taskTokens ?? []), ...fresh], heartbeat } };
}

/** Drops waiters whose tokens Step Functions no longer accepts (found out by a heartbeat). */
export function dropWaiters(task: TrackedTask, tokens: string[]): TrackedTask | null {
  if (!task.notify || tokens.length === 0) return null;
  const taskTokens = task.notify.taskTokens.filter((t) => !tokens.includes(t));
  return { ...task, notify: taskTokens.length > 0 ? { ...task.notify, taskTokens } : null };
}

/** What one delivery attempt of an outbox entry came to. */
export type Delivery =
  | { outcome: 'done' }
  | { outcome: 'retry'; reason: string }
  | { outcome: 'dead'; code: string; reason: string };

/**
 * After a delivery attempt: removes the entries that are done, moves those that can never succeed (or that
 * failed OUTBOX_MAX_ATTEMPTS times) to `undelivered` with their reason, and schedules each other attempted entry
 * on its own backoff, so one stuck entry never delays the others. Clears the caller's lease.
 */
export function settleOutbox(task: TrackedTask, results: Map<string, Delivery>, ctx: Context) {
  const outbox: OutboxEntry[] = [];
  const dead: DeadLetter[] = [];
  for (const entry of task.outbox) {
    const result = results.get(entry.id);
    if (!result) {
      outbox.push(entry);
      continue;
    }
    if (result.outcome === 'done') continue;
    const attempts = entry.attempts + 1;
    const letter = (code: string, reason: string): DeadLetter => ({
      id: entry.id,
      kind: entry.kind,
      ...(entry.kind === 'event' ? { detailType: entry.detailType } : {}),
      code,
      reason: bounded(reason, 1024),
      attempts,
      at: iso(ctx.now),
    });
    if (result.outcome === 'dead') dead.push(letter(result.code, result.reason));
    else if (attempts >= OUTBOX_MAX_ATTEMPTS)
      dead.push(letter('GaveUp', `Gave up after ${attempts} attempts; last: ${result.reason}`));
    else
      outbox.push({
        ...entry,
        attempts,
        nextAttemptAt: iso(ctx.now + backoffMs(OUTBOX_RETRY, attempts - 1)),
      });
  }
  return {
    ...task,
    outbox,
    undelivered: [...task.undelivered, ...dead].slice(-UNDELIVERED_LIMIT),
    lease: leaseAfter(task, ctx),
  };
}
