import { DeadlineExceededError, QuotaBusyError, StoreUnavailableError } from '../errors';
import { silentLog, type Log } from '../log';
import { METRIC, silentMetrics, type Metrics } from '../metrics';
import { sleep } from '../retry';
import type { CallOptions } from '../upstream';
import type { QuotaStats, QuotaTable, Reservation } from './quota-table';

/**
 * One LKE quota for the whole deployment. Tencent allows GetTaskStatus 20 requests per second per account; every
 * container (on-demand functions and pollers alike) takes its start times from one shared schedule kept in the
 * tracking table (lib/lke/quota-table.ts), spaced (1000 ms + margin) / limit apart, so that no second ever sees
 * more than the limit, whichever container sends. The in-container limiter stays in front of it.
 *
 * - Pollers reserve POLL_BATCH_MS of slots at a time (one write per batch: 10 slots at 20/s) and only while the schedule is booked less
 *   than POLL_HORIZON_MS ahead: they yield to on-demand calls, which may book up to ON_DEMAND_WAIT_MS ahead, so
 *   that a large poll run holds at most about 1 s of the schedule (the horizon and one batch) ahead of them.
 *   Between batches a poller gives its unused slots back.
 * - An on-demand call waits at most ON_DEMAND_WAIT_MS for the container's limiter and this quota together, or is
 *   answered at once: 503 UpstreamThrottled with Retry-After (QuotaBusyError, which the client does not retry).
 * - If the table cannot be reached at all, calls go on under the in-container limiter alone (fail open, logged):
 *   the status API does not stop with DynamoDB. A table that answers too slowly gives no slot: an on-demand call
 *   is answered 503 (Retry-After), a poller waits and tries again. Failing open there would send a burst.
 */
export type Priority = 'on-demand' | 'poll';

export interface Quota {
  /**
   * Waits for this container's turn. `since`: when the call started waiting (the container's limiter comes
   * first), so that an on-demand call's ON_DEMAND_WAIT_MS covers both. Refusals are QuotaBusyError.
   */
  acquire(priority: Priority, options: CallOptions, since?: number): Promise<void>;
  /** Gives back the slots this container reserved and will not use (a poller between batches), within `options`. */
  release?(options?: CallOptions): Promise<void>;
}

/** A poller reserves this much of the schedule at a time (10 slots at 20/s; fewer at a lower limit). */
export const POLL_BATCH_MS = 500;
export const POLL_HORIZON_MS = 500;
export const ON_DEMAND_WAIT_MS = 2000;
const POLL_RESERVE_BUDGET_MS = 1500;
const SLOW_TABLE_PAUSE_MS = 250;

export interface SharedQuotaDeps {
  /** The schedule's table operations (loaded on first use: on-demand calls that never reserve never load it). */
  table: () => QuotaTable | Promise<QuotaTable>;
  limitPerSecond: number;
  /** Slack added to each second (network jitter), as in the in-container limiter. */
  marginMs?: number;
  log?: Log;
  /** `QuotaFailedOpen` each time a call goes on under the container's limit alone (the table unreachable). */
  metrics?: Metrics;
  name?: string;
}

export class SharedQuota implements Quota {
  readonly spacingMs: number;
  /** Slots a poller reserves at a time. */
  private readonly pollBatch: number;
  /**
   * How late a call may still go in its slot: half a slot, and never more than half the second's margin. A call
   * sent late comes closer to the next slots: at 5/s, half a slot (107 ms) is more than the 75 ms margin, and
   * six calls fit in one second (found by the simulation, `quota` family).
   */
  private readonly lateMs: number;
  readonly stats: QuotaStats = { reservations: 0, writes: 0, reads: 0 };
  private readonly slots: number[] = [];
  private refill?: Promise<boolean>;
  private readonly log: Log;
  private warnedAt = 0;
  /** The schedule's next free slot, as this container last saw it (picks the likelier path first). */
  private seen = 0;
  /** The end of this container's last reservation (the schedule's next free slot right after it). */
  private reservedUntil = 0;
  /** The schedule's change count right after that reservation (or this container's last return since). */
  private reservedSeq = 0;

  constructor(private readonly deps: SharedQuotaDeps) {
    const marginMs = deps.marginMs ?? 75;
    this.spacingMs = (1000 + marginMs) / deps.limitPerSecond;
    this.lateMs = Math.min(this.spacingMs, marginMs) / 2;
    this.pollBatch = Math.max(1, Math.round((POLL_BATCH_MS * deps.limitPerSecond) / 1000));
    this.log = deps.log ?? silentLog;
  }

  async acquire(priority: Priority, options: CallOptions = {}, since = Date.now()): Promise<void> {
    await (priority === 'on-demand' ? this.onDemand(options, since) : this.poll(options));
  }

  private async poll(options: CallOptions): Promise<void> {
    for (;;) {
      let slot: number | undefined;
      try {
        slot = await this.pollSlot(options);
      } catch (error) {
        if (!(error instanceof QuotaBusyError)) throw error;
        // The table answered too slowly (a burst of reservations): a poller has time, so it waits a moment and
        // tries again, within its deadline.
        await this.waitUntil(Date.now() + SLOW_TABLE_PAUSE_MS * (1 + Math.random()), options);
        continue;
      }
      if (slot === undefined) return; // the table cannot be reached: fail open
      await this.waitUntil(slot, options);
      // A poller that wakes up late gives its slot up: sent late, it would bunch with the next slot's call.
      if (Date.now() - slot <= this.lateMs) return;
    }
  }

  /**
   * An on-demand call waits at most ON_DEMAND_WAIT_MS from `started` for its slot, the container's limiter and
   * reservations included (a slot is never granted later than that), or is refused with when to come back. A slot it reaches too late (a slow
   * answer, a busy container) is given up and another one reserved, within the same time.
   */
  private async onDemand(options: CallOptions, started: number): Promise<void> {
    // The last slot worth taking opens 1.5 slot widths before the end: woken up to a slot width late (a busy
    // container), the call is still sent, or refused, within ON_DEMAND_WAIT_MS.
    const latest = started + ON_DEMAND_WAIT_MS - 1.5 * this.spacingMs;
    while (Date.now() < latest) {
      const reserved = await this.reserve(1, latest, options, started + ON_DEMAND_WAIT_MS);
      if (reserved === undefined) return;
      if ('busyUntil' in reserved) {
        const seconds = Math.max(1, Math.ceil((reserved.busyUntil - Date.now()) / 1000));
        throw new QuotaBusyError(
          `LKE's quota (${this.deps.limitPerSecond} requests/second for the whole deployment) is booked for the ` +
            `next ${ON_DEMAND_WAIT_MS / 1000} s; retry after ${seconds} s`,
          { provider: 'lke', retryAfterSeconds: seconds },
        );
      }
      // On a schedule that was idle the call goes as soon as the reservation is back, not a round trip later.
      await this.waitUntil(reserved.earliest, options);
      if (Date.now() - reserved.first <= this.lateMs) return;
    }
    throw new QuotaBusyError('No slot of the shared LKE quota could be used in time; retry after 1 s', {
      provider: 'lke',
      retryAfterSeconds: 1,
    });
  }

  /** A poller's next slot, from the container's batch; undefined when the table cannot be reached. */
  private async pollSlot(options: CallOptions): Promise<number | undefined> {
    for (;;) {
      // A slot whose time passed unused is given up: sending late would bunch calls together.
      while (this.slots.length > 0 && (this.slots[0] as number) < Date.now() - this.lateMs)
        this.slots.shift();
      const slot = this.slots.shift();
      if (slot !== undefined) return slot;
      // One refill at a time per container, waits included: the callers that find no slot share it.
      this.refill ??= this.refillSlots(options).finally(() => {
        this.refill = undefined;
      });
      if (!(await this.refill)) return undefined;
    }
  }

  /**
   * Reserves a batch of slots for this container. When the schedule is booked beyond the horizon (on-demand
   * calls, or other pollers), waits until it opens again, spread over a batch's span so that the pollers do not
   * all come back at the same moment. False when the table cannot be reached (fail open).
   */
  private async refillSlots(options: CallOptions): Promise<boolean> {
    const now = Date.now();
    const reserved = await this.reserve(
      this.pollBatch,
      now + POLL_HORIZON_MS,
      options,
      now + POLL_RESERVE_BUDGET_MS,
    );
    if (reserved === undefined) return false;
    if ('first' in reserved) {
      for (let n = 0; n < this.pollBatch; n++) this.slots.push(reserved.first + n * this.spacingMs);
      this.reservedUntil = reserved.next;
      this.reservedSeq = reserved.seq;
    } else {
      const spread = Math.random() * this.pollBatch * this.spacingMs;
      await this.waitUntil(reserved.busyUntil - POLL_HORIZON_MS + spread, options);
    }
    return true;
  }

  /**
   * Gives back the slots still held at the tail of the schedule (nobody booked after them), so that a poller
   * between batches wastes no quota. Best effort: one conditional write, or nothing. The slots leave this
   * container before the write goes out: if its answer never comes, they may already be someone else's.
   */
  async release(options: CallOptions = {}): Promise<void> {
    const last = this.slots.at(-1);
    if (last === undefined || Math.abs(last + this.spacingMs - this.reservedUntil) > 1) return;
    const usable = this.slots.filter((slot) => slot > Date.now() + this.spacingMs).length;
    if (usable === 0) return;
    const end = this.reservedUntil;
    const span = usable * this.spacingMs;
    this.slots.splice(this.slots.length - usable, usable);
    this.reservedUntil = end - span;
    try {
      const deadline = Math.min(Date.now() + POLL_RESERVE_BUDGET_MS, options.deadline ?? Infinity);
      const table = (await this.deps.table()).within({ deadline, signal: options.signal });
      const seq = await table.returnSlots(this.deps.name ?? 'lke', this.reservedSeq, span, this.stats);
      if (seq !== undefined) this.reservedSeq = seq;
      this.seen = seq !== undefined ? end - span : 0; // not returned: the schedule changed since (seen next time)
    } catch {
      this.seen = 0; // not known whether they went back: they are not used here either way
    }
  }

  /**
   * One reservation, by `by` at the latest (and the caller's deadline). Undefined when the table cannot be
   * reached at all (fail open, logged once a minute). A table that answers too slowly gives no slot: throttled.
   */
  private async reserve(
    count: number,
    latestStart: number,
    options: CallOptions,
    by: number,
  ): Promise<Reservation | undefined> {
    const deadline = Math.min(options.deadline ?? Infinity, by);
    try {
      const table = (await this.deps.table()).within({ deadline, signal: options.signal });
      const reserved = await table.reserveSlots(
        this.deps.name ?? 'lke',
        count,
        this.spacingMs,
        latestStart,
        this.stats,
        this.seen,
      );
      this.seen = reserved.next;
      return reserved;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (error.timedOut) {
        throw new QuotaBusyError(
          'No slot of the shared LKE quota could be reserved in time (the table is slow); retry after 1 s',
          { provider: 'lke', retryAfterSeconds: 1, cause: error },
        );
      }
      (this.deps.metrics ?? silentMetrics).add(METRIC.quotaFailedOpen, 'Count', 1);
      if (Date.now() - this.warnedAt > 60_000) {
        this.warnedAt = Date.now();
        this.log.warn('the shared LKE quota is unavailable (table); going on under the container limit', {
          error: error.message,
        });
      }
      return undefined;
    }
  }

  private async waitUntil(at: number, options: CallOptions) {
    const waitMs = at - Date.now();
    if (waitMs <= 0) return;
    if (options.deadline !== undefined && Date.now() + waitMs > options.deadline) {
      throw new DeadlineExceededError(
        'Gave up waiting for a slot of the LKE quota: the caller ran out of time',
      );
    }
    await sleep(waitMs, options.signal);
    if (options.signal?.aborted)
      throw new DeadlineExceededError('Gave up waiting for a slot of the LKE quota');
  }
}
