import type { PollSummary as ContractPollSummary } from '../contract';
import { randomUUID } from 'node:crypto';
import { limiter, mapLimit } from '../concurrency';
import {
  DeadlineExceededError,
  StoreUnavailableError,
  TrackerError,
  UpstreamThrottledError,
  UpstreamTimeoutError,
} from '../errors';
import { silentLog, type Log } from '../log';
import { sleep } from '../retry';
import { isFinished } from '../task';
import { deliverOutbox } from '../handover/deliver';
import { tokenFingerprint, type Notifier } from '../handover/notifier';
import type { Checker, CheckOutcome } from './checkers';
import type { TrackedTask } from './model';
import type { TaskStore } from './store';
import {
  dropLease,
  dropWaiters,
  expire,
  failCheck,
  GONE_AFTER,
  isClaimedForCheck,
  isDueForCheck,
  isPastMaxAge,
  isUnchangedCheck,
  maxAgeMessage,
  observe,
  release,
  strike,
  type Context,
} from './transitions';

/** A run's summary (`lib/contract-outputs.ts` POLL_SUMMARY: counts, lag, oldest owed notification, duration). */
export type PollSummary = ContractPollSummary;

export interface PollerDeps {
  store: TaskStore;
  checker: Checker;
  log?: Log;
  owner?: string;
  /** Delivers outboxes (EventBridge, Step Functions). Without one, notifications wait in the outbox. */
  notifier?: Notifier;
}

export interface PollOptions {
  /** Epoch ms by which the run must have returned (the invocation's deadline). */
  deadline: number;
  signal?: AbortSignal;
  /** Stop claiming this long before the deadline: time to check and store what was claimed (10 s). */
  claimMarginMs?: number;
  /** Upstream calls must end this long before the deadline, leaving time to store or release (3 s). */
  checkMarginMs?: number;
}

/** A lease outlives the invocation by this much, then the task is due again for the next run. */
const LEASE_GRACE_MS = 30_000;
/** After upstream throttling: wait this long before the next batch, and retry the task after it. */
const THROTTLE_PAUSE_MS = 5_000;
const WRITE_CONCURRENCY = 8;

/**
 * One polling run for one provider: claim due tasks, the longest-due first (leases make overlapping runs safe),
 * check them upstream, store what changed, reschedule the rest with backoff, hand over what is owed, and give
 * back what there was no time for. Each task is handled at most once per run. One task's failure never fails
 * the run; throttling slows the run down instead of counting against the tasks; every check that happened is
 * followed by the heartbeats its waiters asked for, whatever it found.
 */
export async function poll(deps: PollerDeps, options: PollOptions): Promise<PollSummary> {
  const { checker } = deps;
  const store = deps.store.within({ deadline: options.deadline, signal: options.signal });
  const log = deps.log ?? silentLog;
  const owner = deps.owner ?? `poll-${randomUUID()}`;
  const started = store.now();
  const summary: PollSummary = {
    claimed: 0,
    checked: 0,
    changed: 0,
    finished: 0,
    failed: 0,
    rescheduled: 0,
    throttled: 0,
    notified: 0,
    deadLettered: 0,
    lagMaxMs: 0,
    lagP50Ms: 0,
    outboxOldestAgeMs: 0,
    durationMs: 0,
  };
  const lags: number[] = [];
  const { claimMarginMs = 10_000, checkMarginMs = 3_000 } = options;
  const checkDeadline = options.deadline - checkMarginMs;
  const stopClaimingAt = options.deadline - claimMarginMs;
  const leaseUntil = options.deadline + LEASE_GRACE_MS;
  const handled = new Set<string>();
  const batchSize = store.config.batchSize ?? checker.runLimits.batchSize;
  const maxTasksPerRun = store.config.maxTasksPerRun ?? checker.runLimits.maxTasksPerRun;
  let pauseUntil = 0;
  let outOfTime = false;

  /** Applies a transition to one task, counts it, delivers what it queued; never throws. */
  const write = async (
    task: TrackedTask,
    change: (current: TrackedTask, ctx: Context) => TrackedTask | null,
  ): Promise<TrackedTask> => {
    try {
      const outcome = await store.update(task.id, change, { current: task, owner });
      if (!outcome?.written) return outcome?.task ?? task;
      const after = outcome.task;
      if (after.status !== task.status) {
        summary.changed++;
        // One line per status change: what an operator searches for when asked "what happened to task X".
        log.info('task status changed', {
          id: after.id,
          ...after.identity,
          from: task.status,
          to: after.status,
          upstreamStatus: after.upstreamStatus,
          ...(after.message ? { upstreamMessage: after.message.slice(0, 200) } : {}),
        });
      }
      if (isFinished(after.status)) summary.finished++;
      else summary.rescheduled++;
      const before = new Set(task.outbox.map((e) => e.id));
      await deliver(after, new Set(after.outbox.filter((e) => !before.has(e.id)).map((e) => e.id)));
      return after;
    } catch (error) {
      summary.failed++;
      log.error('could not store a task update; its lease will expire and the next run retries it', {
        id: task.id,
        code: error instanceof TrackerError ? error.code : 'InternalError',
        error: (error as Error).message,
      });
      return task;
    }
  };

  /**
   * Hands the record's due (and just queued) outbox over; on failure the entries stay for the sweep. Answers
   * whether it settled the record (which also let go of our lease).
   */
  async function deliver(task: TrackedTask, fresh: ReadonlySet<string> = new Set()): Promise<boolean> {
    if (!deps.notifier || task.outbox.length === 0) return false;
    try {
      const done = await deliverOutbox(store, deps.notifier, task, { owner, log, fresh });
      summary.notified += done.delivered;
      summary.deadLettered += done.deadLettered;
      return done.settled;
    } catch (error) {
      log.error('could not settle an outbox; the next sweep delivers it again', {
        id: task.id,
        error: (error as Error).message,
      });
      return false;
    }
  }

  /** Step Functions heartbeats after a check, when asked for; tokens Step Functions rejects are removed. */
  async function heartbeat(task: TrackedTask) {
    if (!deps.notifier || !task.notify?.heartbeat || isFinished(task.status)) return;
    const dead: string[] = [];
    for (const token of task.notify.taskTokens) {
      const sent = await deps.notifier.heartbeat(token);
      if (sent.outcome !== 'dead') continue;
      dead.push(token);
      log.warn('the execution no longer waits (its heartbeat was refused); waiter removed', {
        id: task.id,
        token: tokenFingerprint(token),
        code: sent.code,
      });
    }
    if (dead.length > 0)
      await store.update(task.id, (current) => dropWaiters(current, dead)).catch(() => undefined);
  }

  /** Stores one check's outcome, then heartbeats (a check happened, whatever it found). */
  async function settle(task: TrackedTask, outcome: Exclude<CheckOutcome, { kind: 'deferred' }>) {
    if (outcome.kind === 'observed') {
      summary.checked++;
      if (isUnchangedCheck(task, outcome.observation, store.context(owner))) {
        summary.rescheduled++; // the claim already stored what this check found: nothing to write
        return heartbeat(task);
      }
      return heartbeat(await write(task, (current, c) => observe(current, outcome.observation, c)));
    }
    if (outcome.kind === 'gone' || outcome.kind === 'refused') {
      if (outcome.kind === 'gone') summary.checked++;
      else summary.failed++; // a refused check is a failed one, that also counts towards giving the task up
      const { failure } = outcome;
      const after = outcome.kind === 'gone' ? GONE_AFTER.notFound : GONE_AFTER.refused;
      const message =
        outcome.kind === 'gone'
          ? checker.goneMessage
          : `Gave up: ${checker.provider.toUpperCase()} keeps refusing this task: ${failure.code}: ${failure.message}`;
      if (outcome.kind === 'refused') log.warn('task check refused', { id: task.id, ...failure });
      return heartbeat(await write(task, (current, c) => strike(current, failure, c, after, message)));
    }
    const { error } = outcome;
    if (error instanceof UpstreamThrottledError) {
      summary.throttled++;
      pauseUntil = store.now() + THROTTLE_PAUSE_MS;
      handled.delete(task.id); // not checked: it may be claimed again after the pause
      return heartbeat(await write(task, (current, c) => release(current, c, c.now + THROTTLE_PAUSE_MS)));
    }
    if (
      error instanceof DeadlineExceededError ||
      (error instanceof UpstreamTimeoutError && store.now() >= checkDeadline)
    ) {
      outOfTime = true; // what is given back now is due at once: claim nothing more in this run
      return write(task, (current, c) => release(current, c));
    }
    summary.failed++;
    const failure =
      error instanceof TrackerError
        ? { code: error.code, message: error.message }
        : { code: 'InternalError', message: 'Unexpected error while checking the task' };
    log.warn('task check failed', { id: task.id, ...failure });
    return heartbeat(await write(task, (current, c) => failCheck(current, failure, c)));
  }

  const mayClaim = () =>
    !outOfTime &&
    summary.claimed < maxTasksPerRun &&
    store.now() < stopClaimingAt &&
    !options.signal?.aborted;

  /** Claims the next batch: the longest-due tasks this run has not handled yet. */
  async function claimBatch(): Promise<{ batch: TrackedTask[]; full: boolean }> {
    const limit = Math.min(batchSize, maxTasksPerRun - summary.claimed);
    // Without a notifier a run can only check: a task that merely owes notifications is left for a run that
    // can deliver them (claiming it would cost two writes a run, every run, and deliver nothing).
    const claimCtx = store.context(owner);
    const canHandle = deps.notifier
      ? undefined
      : (task: TrackedTask) =>
          isDueForCheck(task, claimCtx) || (!isFinished(task.status) && isPastMaxAge(task, claimCtx));
    const batch = await store.claimDue(checker.provider, owner, leaseUntil, limit, handled, canHandle);
    summary.claimed += batch.length;
    for (const task of batch) handled.add(task.id);
    return { batch, full: batch.length === limit };
  }

  /** Gives claimed tasks back unchecked (no time left, or a pause past the claim window): due again at once. */
  const giveBack = (batch: TrackedTask[]) =>
    mapLimit(batch, WRITE_CONCURRENCY, (task) => write(task, (current, c) => release(current, c)));

  /** Tasks a checker deferred to the next batch of this run (claimed, not yet asked about). */
  const carry: TrackedTask[] = [];

  /**
   * Checks the tasks deferred so far and `fresh` ones, and stores each answer as soon as it is known (at most
   * WRITE_CONCURRENCY writes at once); what the checker defers again joins `carry`.
   */
  async function checkAndSettle(fresh: TrackedTask[], final: boolean) {
    const carried = carry.splice(0);
    const tasks = [...carried, ...fresh];
    const deferredBefore = new Set(carried.map((task) => task.id));
    const gate = limiter(WRITE_CONCURRENCY);
    const taken = new Set<string>();
    const settling: Promise<unknown>[] = [];
    const take = (task: TrackedTask, outcome: CheckOutcome) => {
      if (taken.has(task.id)) return;
      taken.add(task.id);
      if (outcome.kind === 'deferred') carry.push(task);
      else settling.push(gate(() => settle(task, outcome)));
    };
    const outcomes = await checker
      .check(tasks, { deadline: checkDeadline, signal: options.signal, final, deferredBefore }, take)
      .catch((error: unknown) => {
        // A checker is not supposed to throw; if it does, every task it did not answer gets the error.
        for (const task of tasks) take(task, { kind: 'error', error });
        return new Map<string, CheckOutcome>();
      });
    for (const task of tasks)
      take(task, outcomes.get(task.id) ?? { kind: 'error', error: new Error('the checker gave no answer') });
    await Promise.all(settling);
  }

  /** Waits out a throttling pause; false when it lasts past the claim window (the run should stop). */
  async function pausedThrough(): Promise<boolean> {
    if (pauseUntil <= store.now()) return true;
    if (pauseUntil >= stopClaimingAt) return false;
    await sleep(pauseUntil - store.now(), options.signal);
    return true;
  }

  // The next batch is claimed while the current one is being checked, and each check is stored as soon as it is
  // known: the upstream's quota, not the table, sets the pace. What the run claimed and will not check (a batch
  // claimed ahead, tasks deferred, a batch paused past the claim window) goes back at once, in `finally`.
  let prefetch: Promise<{ batch: TrackedTask[]; full: boolean }> | undefined;
  let unchecked: TrackedTask[] = [];
  try {
    while (prefetch || mayClaim()) {
      if (prefetch && (outOfTime || options.signal?.aborted)) break;
      if (!prefetch && !(await pausedThrough())) break; // nothing claimed during a pause
      const { batch, full } = await (prefetch ?? claimBatch());
      prefetch = undefined;
      if (batch.length === 0) break;

      const ctx = store.context(owner);
      const tooOld = batch.filter((task) => !isFinished(task.status) && isPastMaxAge(task, ctx));
      const toCheck = batch.filter((task) => !tooOld.includes(task) && isClaimedForCheck(task, owner));
      for (const task of toCheck) {
        const due = task.lease?.check?.nextCheckAt;
        if (due) lags.push(Math.max(0, ctx.now - Date.parse(due)));
      }
      for (const entry of batch.flatMap((task) => task.outbox)) {
        summary.outboxOldestAgeMs = Math.max(summary.outboxOldestAgeMs, ctx.now - Date.parse(entry.at));
      }
      // Claimed only to deliver a leftover outbox (the sweep), or a lease that ran out on a finished record.
      const sweepOnly = batch.filter((task) => !tooOld.includes(task) && !toCheck.includes(task));
      await mapLimit(sweepOnly, WRITE_CONCURRENCY, async (task) => {
        if (await deliver(task)) return;
        await store.update(task.id, dropLease, { current: task, owner }).catch(() => undefined);
      });
      await mapLimit(tooOld, WRITE_CONCURRENCY, (task) =>
        write(task, (current, c) => expire(current, maxAgeMessage(current, store.config.maxAgeDays), c)),
      );
      // Throttled while this batch was claimed ahead: wait, or give it back if the wait outlasts the run.
      if (!(await pausedThrough())) {
        unchecked = toCheck;
        break;
      }

      const more = full && mayClaim();
      if (more) prefetch = claimBatch();
      await checkAndSettle(toCheck, !more);
    }
    // What the last batches deferred is checked now, with nothing held back, if there is time.
    if (carry.length > 0 && !outOfTime && !options.signal?.aborted && store.now() < checkDeadline)
      await checkAndSettle([], true);
  } catch (error) {
    Object.assign(summary, lagStats(lags));
    summary.durationMs = store.now() - started;
    if (error instanceof StoreUnavailableError) {
      log.error('poll run stopped: the tracking table is unavailable', { ...summary, error: error.message });
    }
    throw error;
  } finally {
    // Not at the end of the leases: at once.
    const ahead = prefetch ? (await prefetch.catch(() => ({ batch: [] }))).batch : [];
    const rest = [...carry.splice(0), ...unchecked, ...ahead];
    if (rest.length > 0) await giveBack(rest);
  }

  Object.assign(summary, lagStats(lags));
  summary.durationMs = store.now() - started;
  return summary;
}

function lagStats(lags: number[]) {
  if (lags.length === 0) return { lagMaxMs: 0, lagP50Ms: 0 };
  const sorted = [...lags].sort((a, b) => a - b);
  return { lagMaxMs: sorted.at(-1) as number, lagP50Ms: sorted[Math.floor(sorted.length / 2)] as number };
}
