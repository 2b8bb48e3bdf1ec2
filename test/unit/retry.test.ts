import { DeadlineExceededError, UpstreamThrottledError, ValidationError } from '../../lib/errors';
import { RateLimiter } from '../../lib/rate-limiter';
import { backoffMs } from '../../lib/backoff';
import { retryBackoff, withRetry, type RetryPolicy } from '../../lib/retry';

const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
const throttled = () => new UpstreamThrottledError('slow down', { provider: 'lke' });

describe('backoff', () => {
  it('grows exponentially, is capped, and is jittered below the ceiling', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffMs(retryBackoff(policy), n, () => 0.999999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffMs(retryBackoff(policy), 3, () => 0)).toBe(0);
    expect(backoffMs(retryBackoff(policy), 3, () => 0.5)).toBe(400);
  });
});

describe('withRetry', () => {
  const noSleep = async () => undefined;

  it('retries retryable errors until success', async () => {
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 3) throw throttled();
        return 'ok';
      },
      { policy, sleep: noSleep },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('stops after maxAttempts with the last error', async () => {
    let calls = 0;
    const slept: number[] = [];
    const error = await withRetry(
      async () => {
        calls++;
        throw throttled();
      },
      { policy, sleep: async (ms) => void slept.push(ms), random: () => 0.5 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamThrottledError);
    expect(calls).toBe(5);
    expect(slept).toEqual([50, 100, 200, 400]);
  });

  it('never retries a non-retryable error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new ValidationError('bad');
        },
        { policy, sleep: noSleep },
      ),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(calls).toBe(1);
  });

  it('does not sleep past the deadline', async () => {
    let calls = 0;
    const now = 1000;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw throttled();
        },
        { policy, sleep: noSleep, random: () => 0.9, now: () => now, deadline: now + 50 },
      ),
    ).rejects.toBeInstanceOf(UpstreamThrottledError);
    expect(calls).toBe(1);
  });

  it('stops at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      withRetry(async () => 'never', { policy, signal: controller.signal }),
    ).rejects.toBeInstanceOf(DeadlineExceededError);
  });
});

describe('RateLimiter (paced)', () => {
  it('spaces starts (interval + margin) / limit apart, never in a burst', () => {
    let now = 0;
    const limiter = new RateLimiter({ limit: 4, intervalMs: 1000, marginMs: 0, now: () => now });
    expect([limiter.reserve(), limiter.reserve(), limiter.reserve()]).toEqual([0, 250, 500]);
    expect(limiter.peek()).toBe(750);
    now = 600;
    expect(limiter.reserve()).toBe(150);
    now = 5000; // an idle limiter does not bank slots for a later burst
    expect([limiter.reserve(), limiter.reserve()]).toEqual([0, 250]);
  });

  it('never lets more than `limit` starts fall inside any window', () => {
    const limit = 20;
    const limiter = new RateLimiter({ limit, intervalMs: 1000, marginMs: 0, now: () => 0 });
    const starts = Array.from({ length: 200 }, () => limiter.reserve()).sort((a, b) => a - b);
    for (let i = limit; i < starts.length; i++) {
      expect(starts[i]! - starts[i - limit]!).toBeGreaterThanOrEqual(1000);
    }
  });

  it('refuses a slot beyond the deadline', async () => {
    const limiter = new RateLimiter({ limit: 1, intervalMs: 1000, now: () => 0 });
    await limiter.acquire();
    await expect(limiter.acquire({ deadline: 500 })).rejects.toBeInstanceOf(DeadlineExceededError);
  });

  it('rejects a limit that is not a positive integer', () => {
    expect(() => new RateLimiter({ limit: 0 })).toThrow(RangeError);
  });
});
