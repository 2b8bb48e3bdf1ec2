import { DeadlineExceededError } from './errors';
import { sleep } from './retry';

/**
 * Paced limiter: starts at least (`intervalMs` + `marginMs`) / `limit` apart, so at most `limit` start in any
 * window of `intervalMs` + `marginMs`, which is how Tencent counts its per-second quotas (a sliding second).
 *
 * Evenly spaced, never in bursts: a burst of `limit` calls sent together arrives spread by connection set-up
 * (new connections) and the next burst arrives tight (reused ones), so two bursts a window apart can still put
 * `limit + 1` calls into one sliding second upstream. Spaced starts leave every call the full slack.
 *
 * Slots are reserved synchronously in call order, so concurrent callers queue fairly without a lock.
 * One limiter lives per container; the quota is per Tencent account, so every container also takes its slots
 * from the shared schedule (lib/lke/quota.ts).
 */
export interface RateLimiterOptions {
  limit: number;
  intervalMs?: number;
  marginMs?: number;
  now?: () => number;
}

export class RateLimiter {
  /** The earliest time the next start may happen. */
  private nextFree = Number.NEGATIVE_INFINITY;
  private readonly spacingMs: number;
  private readonly windowMs: number;
  private readonly limit: number;
  private readonly now: () => number;
  /** When the last `limit` calls were sent (oldest first). */
  private readonly sent: number[] = [];

  constructor({ limit, intervalMs = 1000, marginMs = 25, now = Date.now }: RateLimiterOptions) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`rate limit must be a positive integer, got ${limit}`);
    this.spacingMs = (intervalMs + marginMs) / limit;
    // The last gate counts sends over a second and the shared quota's margin for network jitter (75 ms): calls
    // sent a second apart may arrive closer together.
    this.windowMs = intervalMs + Math.max(marginMs, 75);
    this.limit = limit;
    this.now = now;
  }

  /**
   * The last gate before a call is sent: waits until sending now keeps at most `limit` sends in any window, and
   * records the send. Slots are reserved (`acquire`) before a call's other waits (the shared quota); a call that
   * then goes out at another time than its slot (the shared quota failed open for a batch of waiting calls, which
   * all go at once) must still never take this container over its limit, as Tencent counts it (arrivals, 75 ms
   * of network jitter allowed, as in the shared quota). In the normal course it never waits.
   */
  async admit(options: { deadline?: number; signal?: AbortSignal } = {}): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.sent.length > 0 && (this.sent[0] as number) <= now - this.windowMs) this.sent.shift();
      if (this.sent.length < this.limit) {
        this.sent.push(now);
        return;
      }
      const waitMs = (this.sent[0] as number) + this.windowMs - now;
      if (options.deadline !== undefined && now + waitMs > options.deadline) {
        throw new DeadlineExceededError('Gave up waiting to send: the caller ran out of time');
      }
      await sleep(waitMs, options.signal);
      if (options.signal?.aborted) throw new DeadlineExceededError('Gave up waiting to send');
    }
  }

  /** How long a call made now would wait for its slot, without reserving it. */
  peek(): number {
    return Math.max(0, this.nextFree - this.now());
  }

  /** Reserves the earliest free slot and returns how long to wait for it (0 when free now). */
  reserve(): number {
    const now = this.now();
    const at = Math.max(now, this.nextFree);
    this.nextFree = at + this.spacingMs;
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
