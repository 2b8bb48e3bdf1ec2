import { randomUUID } from 'node:crypto';
import { mapLimit } from '../concurrency';
import { DeadlineExceededError, TrackerError, UpstreamThrottledError, UpstreamTimeoutError } from '../errors';
import { silentLog, type Log } from '../log';
import { sleep } from '../retry';
import { isFinished } from '../task';
import { deliverOutbox } from '../handover/deliver';
import type { Notifier } from '../handover/notifier';
import type { Checker, CheckOutcome } from './checkers';
import type { TrackedTask } from './model';
import type { TaskStore } from './store';
import {
  dropLease,
  dropWaiters,
  expire,
  failCheck,
  isDueForCheck,
  isPastMaxAge,
  observe,
  release,
  type Context,
} from './transitions';

export interface PollSummary {
  claimed: number;
  checked: number;
  changed: number;
  finished: number;
  failed: number;
  rescheduled: number;
  throttled: number;
  /** Notifications done (delivered, or dropped for a dead task token). */
  notified: number;
  durationMs: number;
}

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
 * One polling run for one provider: claim due tasks (leases make overlapping runs safe), check them upstream,
 * store what changed, reschedule the rest with backoff, and give back what there was no time for. One task's
 * failure never fails the run; throttling slows the run down instead of counting against the tasks.
 */
export async function poll(deps: PollerDeps, options: PollOptions): Promise<PollSummary> {
  const { store, checker } = deps;
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
    durationMs: 0,
  };
  const { claimMarginMs = 10_000, checkMarginMs = 3_000 } = options;
  const checkDeadline = options.deadline - checkMarginMs;
  const stopClaimingAt = options.deadline - claimMarginMs;
  const leaseUntil = options.deadline + LEASE_GRACE_MS;
  let pauseUntil = 0;
  let outOfTime = false;

  /** Applies a transition to one task, counts the result, and never throws. */
  const write = async (
    task: TrackedTask,
    change: (current: TrackedTask, ctx: Context) => TrackedTask | null,
  ) => {
    try {
      const outcome = await store.update(task.id, change, { current: task, owner });
      if (!outcome?.written) return;
      const after = outcome.task;
      if (after.status !== task.status) summary.changed++;
      if (isFinished(after.status)) summary.finished++;
      else summary.rescheduled++;
      await deliver(after);
    } catch (error) {
      summary.failed++;
      log.error('could not store a task update; its lease will expire and the next run retries it', {
        id: task.id,
        error: (error as Error).message,
      });
    }
  };

  /** Hands the record's outbox over; on failure the entries stay for the sweep. Never throws. */
  async function deliver(task: TrackedTask) {
    if (!deps.notifier || task.outbox.length === 0) return;
    try {
      const { done } = await deliverOutbox(store, deps.notifier, task, { owner, log });
      summary.notified += done; // not `+= await …`: that would read the counter before the await
    } catch (error) {
      log.error('could not settle an outbox; the next sweep delivers it again', {
        id: task.id,
        error: (error as Error).message,
      });
    }
  }

  /** Optional Step Functions heartbeats after a check; tokens Step Functions rejects are removed. */
  async function heartbeat(task: TrackedTask) {
    if (!deps.notifier || !task.notify?.heartbeat) return;
    const dead: string[] = [];
    for (const token of task.notify.taskTokens) {
      if ((await deps.notifier.heartbeat(token)) === 'dropped') dead.push(token);
    }
    if (dead.length > 0)
      await store.update(task.id, (current) => dropWaiters(current, dead)).catch(() => undefined);
  }

  while (
    !outOfTime &&
    summary.claimed < store.config.maxTasksPerRun &&
    store.now() < stopClaimingAt &&
    !options.signal?.aborted
  ) {
    if (pauseUntil > store.now()) {
      if (pauseUntil >= stopClaimingAt) break;
      await sleep(pauseUntil - store.now(), options.signal);
    }
    const limit = Math.min(store.config.batchSize, store.config.maxTasksPerRun - summary.claimed);
    const batch = await store.claimDue(checker.provider, owner, leaseUntil, limit);
    if (batch.length === 0) break;
    summary.claimed += batch.length;

    const ctx = store.context(owner);
    const tooOld = batch.filter((task) => !isFinished(task.status) && isPastMaxAge(task, ctx));
    const toCheck = batch.filter((task) => !tooOld.includes(task) && isDueForCheck(task, ctx));
    // Claimed only to deliver a leftover outbox (the sweep), or a lease that ran out on a finished record.
    const sweepOnly = batch.filter((task) => !tooOld.includes(task) && !toCheck.includes(task));
    await mapLimit(sweepOnly, WRITE_CONCURRENCY, async (task) => {
      if (deps.notifier && task.outbox.length > 0) return deliver(task);
      await store.update(task.id, dropLease, { current: task, owner }).catch(() => undefined);
    });
    await mapLimit(tooOld, WRITE_CONCURRENCY, (task) =>
      write(task, (current, c) =>
        expire(current, `Gave up: no final status after ${store.config.maxAgeDays} days`, c),
      ),
    );

    let outcomes: Map<string, CheckOutcome>;
    try {
      outcomes = await checker.check(toCheck, { deadline: checkDeadline, signal: options.signal });
    } catch (error) {
      // A checker is not supposed to throw; if it does, every task of the batch gets the error.
      outcomes = new Map(toCheck.map((task) => [task.id, { kind: 'error', error }]));
    }

    await mapLimit(toCheck, WRITE_CONCURRENCY, async (task) => {
      const outcome = outcomes.get(task.id) ?? {
        kind: 'error',
        error: new Error('the checker gave no answer'),
      };
      if (outcome.kind === 'observed') {
        summary.checked++;
        await write(task, (current, c) => observe(current, outcome.observation, c));
        if (!isFinished(outcome.observation.status)) await heartbeat(task);
        return;
      }
      if (outcome.kind === 'gone') {
        summary.checked++;
        return write(task, (current, c) => expire(current, outcome.message, c));
      }
      const { error } = outcome;
      if (error instanceof UpstreamThrottledError) {
        summary.throttled++;
        pauseUntil = store.now() + THROTTLE_PAUSE_MS;
        return write(task, (current, c) => release(current, c, c.now + THROTTLE_PAUSE_MS));
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
      return write(task, (current, c) => failCheck(current, failure, c));
    });
  }

  summary.durationMs = store.now() - started;
  return summary;
}
