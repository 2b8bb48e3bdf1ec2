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
import { deadlineSignal } from '../upstream';
import { isFinished } from '../task';
import { deliverOutbox } from '../handover/deliver';
import { tokenFingerprint, type Notifier } from '../handover/notifier';
import type { Checker, CheckOutcome } from './checkers';
import type { Observation, TrackedTask } from './model';
import type { TaskStore } from './store';
import {
  dropLease,
  dropWaiters,
  expire,
  giveUpAfterCheck,
  failCheck,
  GONE_AFTER,
  isClaimedForCheck,
  isDueForCheck,
  isPastMaxAge,
  isUnchangedCheck,
  lastCheckGraceMs,
  maxAgeMessage,
  observe,
  release,
  strike,
  type Context,
  type Failure,
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
export const THROTTLE_PAUSE_MS = 5_000;
const WRITE_CONCURRENCY = 8;
/** Hand-overs stop this long before the deadline: the writes that settle them, and the run's end, need the rest. */
const HANDOVER_MARGIN_MS = 2_000;
/** A run claims what it can check at this share of the pace it has kept (see `claimSize`)… */
const PACE_MARGIN = 0.5;
/** …and at most what it checks in this long at that pace: it never holds more than a few seconds' work… */
const CLAIM_HORIZON_MS = 15_000;
/** …or, before it has a pace of its own, this long at the upstream's limit (other runs may share it). */
const FIRST_CLAIM_MS = 2_000;

/**
 * One polling run for one provider: claim due tasks, the longest-due first (leases make overlapping runs safe),
 * check them upstream, store what changed, reschedule the rest with backoff, hand over what is owed, and give
 * back what there was no time for. Each task is handled at most once per run. One task's failure never fails
 * the run; throttling slows the run down instead of counting against the tasks; every check that happened is
 * followed by the heartbeats its waiters asked for, whatever it found.
 *
 * The run is claim → check → settle → give back (`PollRun`), pipelined: the next batch is claimed while the
 * current one is checked, and each answer is stored as it comes.
 */
export async function poll(deps: PollerDeps, options: PollOptions): Promise<PollSummary> {
  return new PollRun(deps, options).run();
}

/** A batch as claimed: the tasks won, and whether the claim filled its limit (there may be more due). */
interface Claimed {
  tasks: TrackedTask[];
  full: boolean;
}

/**
 * The state of one run and its named steps. Every state change of a task is one small operation here
 * (`claim`, `record`, `strikeOut`, `recordFailure`, `pause`, `giveBack`, `sweep`, `expireTooOld`), each one
 * conditional write through the store; `run` only composes them.
 *
 * What the run holds is kept in one place, `held`: the tasks it claimed for a check and has not yet settled
 * (stored the outcome, confirmed an unchanged one, or given back). Whatever is still held when the run ends goes
 * back (`giveBack`); what cannot go back is listed in the run's record (`store.recordRun`), so the next writer
 * of such a task undoes the check the claim wrote up front.
 */
class PollRun {
  private readonly store: TaskStore;
  private readonly checker: Checker;
  private readonly notifier?: Notifier;
  private readonly log: Log;
  private readonly owner: string;
  private readonly options: PollOptions;
  private readonly started: number;
  private readonly leaseUntil: number;
  private readonly checkDeadline: number;
  private readonly stopClaimingAt: number;
  private readonly batchSize: number;
  private readonly maxTasksPerRun: number;

  private readonly summary: PollSummary = {
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
  private readonly lags: number[] = [];
  /** Every task this run claimed: none is claimed twice in a run. */
  private readonly handled = new Set<string>();
  /** Claimed for a check and not settled yet (see the class comment). */
  private readonly held = new Map<string, TrackedTask>();
  /** Claims whose write may have landed without an answer: given back, if this run holds them. */
  private readonly unsure = new Set<string>();
  /** Checks found unchanged and left unwritten (the claim stored them): listed nowhere, counted here. */
  private confirmed = 0;
  /** Tasks the checker deferred to the next batch of this run (claimed, not yet asked about). */
  private carry: TrackedTask[] = [];
  private pauseUntil = 0;
  /** A check ran into the deadline: what is given back now is due at once, so claim nothing more. */
  private outOfTime = false;
  /** The store failure that stopped claiming; the run ends with it once what it holds is settled. */
  private failure?: unknown;
  /** This run's pace: checks settled, and the time spent checking them. */
  private readonly pace = { checks: 0, ms: 0 };
  /** The next batch, being claimed. */
  private ahead?: Promise<Claimed>;
  /** Ends every hand-over HANDOVER_MARGIN_MS before the deadline (what was not delivered is retried later). */
  private readonly handover: ReturnType<typeof deadlineSignal>;

  constructor(deps: PollerDeps, options: PollOptions) {
    this.store = deps.store.within({ deadline: options.deadline, signal: options.signal });
    this.checker = deps.checker;
    this.notifier = deps.notifier;
    this.log = deps.log ?? silentLog;
    this.owner = deps.owner ?? `poll-${randomUUID()}`;
    this.options = options;
    this.started = this.store.now();
    const { claimMarginMs = 10_000, checkMarginMs = 3_000 } = options;
    this.leaseUntil = options.deadline + LEASE_GRACE_MS;
    this.checkDeadline = options.deadline - checkMarginMs;
    this.stopClaimingAt = options.deadline - claimMarginMs;
    this.handover = deadlineSignal(options.deadline - HANDOVER_MARGIN_MS - Date.now(), options.signal);
    this.batchSize = this.store.config.batchSize ?? deps.checker.runLimits.batchSize;
    this.maxTasksPerRun = this.store.config.maxTasksPerRun ?? deps.checker.runLimits.maxTasksPerRun;
  }

  async run(): Promise<PollSummary> {
    this.ahead = this.mayClaim() ? this.claim() : undefined;
    try {
      while (this.ahead) {
        const claimed = await this.ahead; // never rejects: a failed claim answers what it won
        this.ahead = undefined;
        const toCheck = await this.triage(claimed.tasks);
        if (this.outOfTime || this.options.signal?.aborted) break; // what it holds goes back
        // Throttled while this batch was claimed ahead: wait, or give it back if the wait outlasts the run.
        if (!(await this.pausedThrough())) break;
        // Another batch follows: claimed once half of this one is settled, while the rest is checked, so that
        // the upstream's pace, not the table, sets the run's; and sized by the pace measured by then.
        const more = claimed.full && this.mayClaim();
        await this.checkAndSettle(toCheck, !more, more ? () => this.claimAhead() : undefined);
        if (more) this.claimAhead(); // nothing was settled (all deferred)
      }
      // What the last batches deferred is checked now, with nothing held back, if there is time.
      if (this.carry.length > 0 && !this.stopped() && this.store.now() < this.checkDeadline)
        await this.checkAndSettle([], true);
    } finally {
      if (this.ahead) await this.ahead; // its tasks are held: given back below
      // The record first, while there is time: it lists everything still held or unsure, and what is then given
      // back has no lease left for anyone to settle by it.
      await this.recordRun();
      await this.giveBack();
      this.handover.clear();
    }
    return this.end();
  }

  /** Starts claiming the next batch, once (`run` awaits it). */
  private claimAhead() {
    if (this.ahead === undefined && this.mayClaim()) this.ahead = this.claim();
  }

  // ---- claim ---------------------------------------------------------------------------------------------------

  private stopped(): boolean {
    return this.outOfTime || this.failure !== undefined || this.options.signal?.aborted === true;
  }

  private mayClaim(): boolean {
    return (
      !this.stopped() &&
      this.summary.claimed < this.maxTasksPerRun &&
      this.store.now() < this.stopClaimingAt &&
      this.claimSize() > 0
    );
  }

  /**
   * How many tasks to claim next: a batch, but no more than this run can still check before its deadline, less
   * what it holds unchecked. Tasks claimed and then given back unchecked would have waited for nothing while
   * other runs checked newer ones (fairness under overlap). The pace is this run's so far (the upstream's limit
   * before it has one), taken at PACE_MARGIN: another run starting to share the quota slows this one down. One
   * claim holds at most CLAIM_HORIZON_MS of work (a batch of 200 LKE tasks at 20/s is 10 s), and at most twice
   * the time the pace was measured over; the first, before the run knows its pace, FIRST_CLAIM_MS at the
   * upstream's limit (40 LKE tasks).
   */
  private claimSize(): number {
    const limit = Math.min(this.batchSize, this.maxTasksPerRun - this.summary.claimed);
    const measured = this.pace.ms > 0 && this.pace.checks > 0 ? this.pace.checks / this.pace.ms : undefined;
    const nominal = this.checker.pacePerSecond?.();
    const perMs = measured ?? (nominal ? nominal / 1000 : undefined);
    if (!perMs) return limit;
    const timeLeft = this.checkDeadline - this.store.now();
    const canCheck = Math.floor(perMs * PACE_MARGIN * timeLeft) - this.held.size;
    // A pace measured over a short time is a guess (the run's first checks go out before other runs join it):
    // a claim covers at most twice the time measured so far, growing to CLAIM_HORIZON_MS.
    const horizon = measured
      ? Math.min(CLAIM_HORIZON_MS, Math.max(FIRST_CLAIM_MS, 2 * this.pace.ms))
      : FIRST_CLAIM_MS;
    return Math.max(0, Math.min(limit, canCheck, Math.ceil(perMs * horizon)));
  }

  /**
   * Claims the next batch: the longest-due tasks this run has not handled yet. Never rejects: a claim that fails
   * answers what it won before failing (those are checked), and stops the run's claiming.
   */
  private async claim(): Promise<Claimed> {
    const limit = this.claimSize();
    // Without a notifier a run can only check: a task that merely owes notifications is left for a run that
    // can deliver them (claiming it would cost two writes a run, every run, and deliver nothing).
    const ctx = this.store.context(this.owner);
    const canHandle = this.notifier ? undefined : (task: TrackedTask) => isDueForCheck(task, ctx);
    const claim = await this.store
      .claimDue(this.checker.provider, this.owner, this.leaseUntil, limit, this.handled, canHandle)
      .catch((error: unknown) => ({ tasks: [] as TrackedTask[], unsure: [] as string[], error }));
    for (const id of claim.unsure) this.unsure.add(id);
    for (const task of claim.tasks) {
      this.handled.add(task.id);
      if (isClaimedForCheck(task, this.owner)) this.held.set(task.id, task);
    }
    this.summary.claimed += claim.tasks.length;
    if (claim.error !== undefined) {
      this.failure ??= claim.error;
      this.log.error(
        'claiming stopped: the tracking table failed; what was claimed is checked, the rest waits',
        {
          claimed: claim.tasks.length,
          unsure: claim.unsure.length,
          error: (claim.error as Error).message,
        },
      );
    }
    return { tasks: claim.tasks, full: claim.tasks.length === limit && claim.error === undefined };
  }

  /**
   * Sorts a claimed batch: tasks claimed only to deliver their outbox (or whose lease ran out after they
   * finished) are swept; the rest are answered to be checked (past its max age, for the last time: `settle`).
   */
  private async triage(batch: TrackedTask[]): Promise<TrackedTask[]> {
    const ctx = this.store.context(this.owner);
    // Past its max age a task ends after one last check; one that could not get it for long (throttled, out of
    // the runs' time) ends without it.
    const grace = lastCheckGraceMs(ctx.schedule);
    const overdue = batch.filter((task) => !isFinished(task.status) && isPastMaxAge(task, ctx, grace));
    const toCheck = batch.filter((task) => !overdue.includes(task) && this.held.has(task.id));
    const sweepOnly = batch.filter((task) => !overdue.includes(task) && !toCheck.includes(task));
    for (const task of toCheck) {
      const due = task.lease?.check?.nextCheckAt;
      if (due) this.lags.push(Math.max(0, ctx.now - Date.parse(due)));
    }
    for (const entry of batch.flatMap((task) => task.outbox)) {
      this.summary.outboxOldestAgeMs = Math.max(
        this.summary.outboxOldestAgeMs,
        ctx.now - Date.parse(entry.at),
      );
    }
    await mapLimit(sweepOnly, WRITE_CONCURRENCY, (task) => this.sweep(task));
    await mapLimit(overdue, WRITE_CONCURRENCY, (task) => this.giveUpUnchecked(task));
    return toCheck;
  }

  /** Waits out a throttling pause; false when it lasts past the claim window (the run should stop). */
  private async pausedThrough(): Promise<boolean> {
    if (this.pauseUntil <= this.store.now()) return true;
    if (this.pauseUntil >= this.stopClaimingAt) return false;
    await sleep(this.pauseUntil - this.store.now(), this.options.signal);
    return true;
  }

  // ---- check ---------------------------------------------------------------------------------------------------

  /**
   * Checks the tasks deferred so far and `fresh` ones, and settles each answer as soon as it is known (at most
   * WRITE_CONCURRENCY writes at once); what the checker defers again joins `carry`.
   */
  private async checkAndSettle(fresh: TrackedTask[], final: boolean, halfway?: () => void) {
    const carried = this.carry.splice(0);
    const tasks = [...carried, ...fresh];
    if (tasks.length === 0) return;
    let began = this.store.now();
    const deferredBefore = new Set(carried.map((task) => task.id));
    const gate = limiter(WRITE_CONCURRENCY);
    const taken = new Set<string>();
    const settling: Promise<unknown>[] = [];
    let settled = 0;
    const done = () => {
      // The pace counts checks as they are settled, over the time spent checking.
      this.pace.checks++;
      const now = this.store.now();
      this.pace.ms += now - began;
      began = now;
      if (++settled === Math.ceil(tasks.length / 2)) halfway?.();
    };
    const take = (task: TrackedTask, outcome: CheckOutcome) => {
      if (taken.has(task.id)) return;
      taken.add(task.id);
      if (outcome.kind === 'deferred') this.carry.push(task);
      else settling.push(gate(() => this.settle(task, outcome)).finally(done));
    };
    const { signal } = this.options;
    const outcomes = await this.checker
      .check(tasks, { deadline: this.checkDeadline, signal, final, deferredBefore }, take)
      .catch((error: unknown) => {
        // A checker is not supposed to throw; if it does, every task it did not answer gets the error.
        for (const task of tasks) take(task, { kind: 'error', error });
        return new Map<string, CheckOutcome>();
      });
    for (const task of tasks)
      take(task, outcomes.get(task.id) ?? { kind: 'error', error: new Error('the checker gave no answer') });
    await Promise.all(settling);
  }

  // ---- settle: one operation per outcome -------------------------------------------------------------------

  /** Stores one check's outcome, then heartbeats (a check happened, whatever it found). */
  private async settle(task: TrackedTask, outcome: Exclude<CheckOutcome, { kind: 'deferred' }>) {
    switch (outcome.kind) {
      case 'observed':
        return this.record(task, outcome.observation);
      case 'gone':
      case 'refused':
        return this.strikeOut(task, outcome.kind, outcome.failure);
      case 'error':
        if (outcome.error instanceof UpstreamThrottledError) return this.pause(task);
        if (
          outcome.error instanceof DeadlineExceededError ||
          (outcome.error instanceof UpstreamTimeoutError && this.store.now() >= this.checkDeadline)
        ) {
          this.outOfTime = true; // what is given back now is due at once: claim nothing more in this run
          return this.write(task, (current, c) => release(current, c));
        }
        return this.recordFailure(task, outcome.error);
    }
  }

  /** A reading. Unchanged, it needs no write: the claim already stored what it would (one write per check). */
  private async record(task: TrackedTask, observation: Observation) {
    this.summary.checked++;
    if (!this.isLastCheck(task) && isUnchangedCheck(task, observation, this.store.context(this.owner))) {
      this.summary.rescheduled++;
      this.held.delete(task.id);
      this.confirmed++;
      return this.heartbeat(task);
    }
    return this.heartbeat(await this.writeCheck(task, (current, c) => observe(current, observation, c)));
  }

  /**
   * The upstream does not know the task (`gone`), or refuses every request about it (`refused`): one strike, and
   * the task ends `expired` after a few (transitions `strike`). A refused check also counts as a failed one.
   */
  private async strikeOut(task: TrackedTask, kind: 'gone' | 'refused', failure: Failure) {
    if (kind === 'gone') this.summary.checked++;
    else {
      this.summary.failed++;
      this.log.warn('task check refused', { id: task.id, ...failure });
    }
    const provider = this.checker.provider.toUpperCase();
    const after = kind === 'gone' ? GONE_AFTER.notFound : GONE_AFTER.refused;
    const message =
      kind === 'gone'
        ? this.checker.goneMessage
        : `Gave up: ${provider} keeps refusing this task: ${failure.code}: ${failure.message}`;
    return this.heartbeat(
      await this.writeCheck(task, (current, c) => strike(current, failure, c, after, message)),
    );
  }

  /** A check that failed for a reason that says nothing about the task: counted, retried with backoff. */
  private async recordFailure(task: TrackedTask, error: unknown) {
    this.summary.failed++;
    const failure =
      error instanceof TrackerError
        ? { code: error.code, message: error.message }
        : { code: 'InternalError', message: 'Unexpected error while checking the task' };
    this.log.warn('task check failed', { id: task.id, ...failure });
    return this.heartbeat(await this.writeCheck(task, (current, c) => failCheck(current, failure, c)));
  }

  /** Throttled upstream: the task goes back unchecked, due after the pause, and the run waits that long. */
  private async pause(task: TrackedTask) {
    this.summary.throttled++;
    this.pauseUntil = this.store.now() + THROTTLE_PAUSE_MS;
    this.handled.delete(task.id); // not checked: it may be claimed again after the pause
    return this.heartbeat(
      await this.write(task, (current, c) => release(current, c, c.now + THROTTLE_PAUSE_MS)),
    );
  }

  /** Past its max age, a task's check is its last: unless it found the task finished, the task ends `expired`. */
  private isLastCheck(task: TrackedTask): boolean {
    return !isFinished(task.status) && isPastMaxAge(task, this.store.context(this.owner));
  }

  /** Past its max age and its last check's grace: ends `expired` without the check (its claim is undone). */
  private giveUpUnchecked(task: TrackedTask) {
    const maxAgeDays = this.store.config.maxAgeDays;
    return this.write(task, (current, c) => expire(current, maxAgeMessage(current, maxAgeDays), c));
  }

  /** Writes a check's outcome (a reading, a failure, a refusal); past the max age, as the last one. */
  private writeCheck(task: TrackedTask, change: (current: TrackedTask, ctx: Context) => TrackedTask | null) {
    if (!this.isLastCheck(task)) return this.write(task, change);
    const maxAgeDays = this.store.config.maxAgeDays;
    return this.write(task, (current, c) => giveUpAfterCheck(current, change(current, c), maxAgeDays, c));
  }

  /** Claimed only to deliver its outbox (or to end a lease left on a finished record). */
  private async sweep(task: TrackedTask) {
    if (await this.deliver(task)) return;
    await this.store.update(task.id, dropLease, { current: task, owner: this.owner }).catch(() => undefined);
  }

  // ---- give back ----------------------------------------------------------------------------------------------

  /**
   * Gives back, unchecked, every task the run still holds (claimed ahead, deferred, paused past the claim window,
   * stopped by a failure) and every claim whose answer was lost: due again at once, at the place in line they
   * had. What cannot be given back stays held, and is listed in the run's record.
   */
  private async giveBack() {
    const tasks: (TrackedTask | string)[] = [...this.held.values(), ...this.unsure];
    this.carry = [];
    await mapLimit(tasks, WRITE_CONCURRENCY, async (task) => {
      const id = typeof task === 'string' ? task : task.id;
      const current = typeof task === 'string' ? undefined : task;
      try {
        const outcome = await this.store.update(id, (record, c) => release(record, c), {
          current,
          owner: this.owner,
        });
        if (typeof task !== 'string') this.held.delete(id);
        // A claim whose answer never came may still land after this read found it had not: only a release that
        // was written settles it; otherwise it stays `unsure`, listed in the run's record (undone if it lands).
        else if (outcome?.written) this.unsure.delete(id);
      } catch (error) {
        this.log.error('could not give a task back; its lease ends by itself and the check is undone then', {
          id,
          error: (error as Error).message,
        });
      }
    });
  }

  /**
   * Writes the run's record when it left unchanged checks unwritten, so that whoever next writes one of those
   * records knows the check was made (store `recordRun`), listing what the run still holds or is unsure of (about
   * to be given back, if the table lets it). Without it (the run died, or the table failed here), the unchanged
   * checks are undone: a check counted that was made is better lost than one counted that was not.
   */
  private async recordRun() {
    if (this.confirmed === 0) return;
    try {
      await this.store.recordRun(this.owner, this.checker.provider, [...this.held.keys(), ...this.unsure]);
    } catch (error) {
      this.log.warn('could not record the run; its unchanged checks will be counted again', {
        checks: this.confirmed,
        error: (error as Error).message,
      });
    }
  }

  private end(): PollSummary {
    Object.assign(this.summary, lagStats(this.lags));
    this.summary.durationMs = this.store.now() - this.started;
    if (this.failure !== undefined) {
      if (this.failure instanceof StoreUnavailableError) {
        this.log.error('poll run stopped: the tracking table is unavailable', {
          ...this.summary,
          error: this.failure.message,
        });
      }
      throw this.failure;
    }
    return this.summary;
  }

  // ---- writes and hand-over ------------------------------------------------------------------------------

  /**
   * Applies a transition to one task, counts it, settles it in `held`, delivers what it queued; never throws (a
   * task whose write fails stays held: given back at the end, or its lease ends by itself).
   */
  private async write(
    task: TrackedTask,
    change: (current: TrackedTask, ctx: Context) => TrackedTask | null,
  ): Promise<TrackedTask> {
    try {
      const outcome = await this.store.update(task.id, change, { current: task, owner: this.owner });
      this.held.delete(task.id);
      if (!outcome?.written) return outcome?.task ?? task;
      const after = outcome.task;
      if (after.status !== task.status) {
        this.summary.changed++;
        // One line per status change: what an operator searches for when asked "what happened to task X".
        this.log.info('task status changed', {
          id: after.id,
          ...after.identity,
          from: task.status,
          to: after.status,
          upstreamStatus: after.upstreamStatus,
          ...(after.message ? { upstreamMessage: after.message.slice(0, 200) } : {}),
        });
      }
      if (isFinished(after.status)) this.summary.finished++;
      else this.summary.rescheduled++;
      const before = new Set(task.outbox.map((e) => e.id));
      await this.deliver(after, new Set(after.outbox.filter((e) => !before.has(e.id)).map((e) => e.id)));
      return after;
    } catch (error) {
      this.summary.failed++;
      this.log.error('could not store a task update; its lease will expire and the next run retries it', {
        id: task.id,
        code: error instanceof TrackerError ? error.code : 'InternalError',
        error: (error as Error).message,
      });
      return task;
    }
  }

  /**
   * Hands the record's due (and just queued) outbox over; on failure the entries stay for the sweep. Answers
   * whether it settled the record (which also let go of our lease).
   */
  private async deliver(task: TrackedTask, fresh: ReadonlySet<string> = new Set()): Promise<boolean> {
    if (!this.notifier || task.outbox.length === 0) return false;
    try {
      const done = await deliverOutbox(this.store, this.notifier, task, {
        owner: this.owner,
        log: this.log,
        fresh,
        signal: this.handover.signal,
      });
      this.summary.notified += done.delivered;
      this.summary.deadLettered += done.deadLettered;
      return done.settled;
    } catch (error) {
      this.log.error('could not settle an outbox; the next sweep delivers it again', {
        id: task.id,
        error: (error as Error).message,
      });
      return false;
    }
  }

  /** Step Functions heartbeats after a check, when asked for; tokens Step Functions rejects are removed. */
  private async heartbeat(task: TrackedTask) {
    if (!this.notifier || !task.notify?.heartbeat || isFinished(task.status)) return;
    const dead: string[] = [];
    const { signal } = this.handover;
    for (const token of task.notify.taskTokens) {
      if (signal.aborted) break; // out of time: the next check heartbeats again
      const sent = await this.notifier.heartbeat(token, { signal });
      if (sent.outcome !== 'dead') continue;
      dead.push(token);
      this.log.warn('the execution no longer waits (its heartbeat was refused); waiter removed', {
        id: task.id,
        token: tokenFingerprint(token),
        code: sent.code,
      });
    }
    if (dead.length > 0)
      await this.store.update(task.id, (current) => dropWaiters(current, dead)).catch(() => undefined);
  }
}

function lagStats(lags: number[]) {
  if (lags.length === 0) return { lagMaxMs: 0, lagP50Ms: 0 };
  const sorted = [...lags].sort((a, b) => a - b);
  return { lagMaxMs: sorted.at(-1) as number, lagP50Ms: sorted[Math.floor(sorted.length / 2)] as number };
}
