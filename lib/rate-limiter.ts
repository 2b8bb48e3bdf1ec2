import { DeadlineExceededError } from './errors';
import { sleep } from './retry';

/**
 * Sliding-window limiter: at most `limit` starts in any window of `intervalMs` (plus `marginMs` of slack for
 * network jitter), which is how Tencent counts its per-second quotas. A plain token bucket would allow
 * `limit + 1` starts inside one second after a burst, and be throttled for it.
 *
 * Slots are reserved synchronously in call order, so concurrent callers queue fairly without a lock.
 * One limiter lives per container; the quota is per Tencent account, so several warm containers share it
 * (throttling that still happens is retried by the client).
 */
export interface RateLimiterOptions {
  limit: number;
  intervalMs?: number;
  marginMs?: number;
  now?: () => number;
}

export class RateLimiter {
  private readonly starts: number[];
  private next = 0;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor({ limit, intervalMs = 1000, marginMs = 25, now = Date.now }: RateLimiterOptions) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`rate limit must be a positive integer, got ${limit}`);
    this.limit = limit;
    this.windowMs = intervalMs + marginMs;
    this.now = now;
    this.starts = new Array<number>(limit).fill(Number.NEGATIVE_INFINITY);
  }

  /** How long a call made now would wait for its slot, without reserving it. */
  peek(): number {
    return Math.max(0, (this.starts[this.next] as number) + this.windowMs - this.now());
  }

  /** Reserves the earliest free slot and returns how long to wait for it (0 when free now). */
  reserve(): number {
    const now = this.now();
    // starts[next] is the oldest of the last `limit` reserved starts.
    const at = Math.max(now, (this.starts[this.next] as number) + this.windowMs);
    this.starts[this.next] = at;
    this.next = (this.next + 1) % this.limit;
    return at - now;
  }

  /** Waits for a slot. Throws DeadlineExceededError when the slot lies beyond `deadline` or the signal aborts. */
  async acquire(options: { deadline?: number; signal?: AbortSignal } = {}): Promise<void> {
    const waitMs = this.reserve();
    if (waitMs === 0) return;
    if (options.deadline !== undefined && this.now() + waitMs > options.deadline) {
      throw new DeadlineExceededError('Gave up waiting for a request slot: the caller ran out of time');
    }
    await sleep(waitMs, options.signal);
    if (options.signal?.aborted) throw new DeadlineExceededError('Gave up waiting for a request slot');
  }
}
