import { backoffMs, type BackoffPolicy } from './backoff';
import { DeadlineExceededError, isRetryable, TrackerError, UpstreamError } from './errors';
import type { Log } from './log';
import { MAX_TIMER_MS } from './upstream';

/**
 * Retries with capped exponential backoff and full jitter, shared by every upstream client.
 *
 * Attempt n (0-based) waits `random() * min(maxDelayMs, baseDelayMs * 2^n)` before the next try. Only errors
 * for which `shouldRetry` answers true are retried (by default: `TrackerError.retryable`, i.e. throttling,
 * timeouts, 5xx and network failures). A `deadline` (epoch ms) or an aborted `signal` stops retrying early:
 * the last error is thrown rather than sleeping past the caller's time.
 */
export interface RetryPolicy {
  /** Total tries including the first. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  shouldRetry?: (error: unknown) => boolean;
  /** Called before each wait; used for logs and metrics. */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void;
  deadline?: number;
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

/** The backoff curve of a retry policy (lib/backoff.ts): doubling, capped, full jitter. */
export function retryBackoff(policy: RetryPolicy): BackoffPolicy {
  return { baseMs: policy.baseDelayMs, factor: 2, maxMs: policy.maxDelayMs, jitter: 'full' };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    // Node fires a timer longer than 2^31 − 1 ms after 1 ms: a longer sleep is cut to that (~24.8 days).
    const timer = setTimeout(done, Math.min(ms, MAX_TIMER_MS));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const {
    policy,
    shouldRetry = isRetryable,
    onRetry,
    deadline,
    signal,
    sleep: wait = sleep,
    random = Math.random,
    now = Date.now,
  } = options;
  const curve = retryBackoff(policy);
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw new DeadlineExceededError('Gave up: the caller ran out of time');
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt + 1 >= policy.maxAttempts || !shouldRetry(error)) throw error;
      const delayMs = backoffMs(curve, attempt, random);
      if (signal?.aborted || (deadline !== undefined && now() + delayMs >= deadline)) throw error;
      onRetry?.({ error, attempt, delayMs });
      await wait(delayMs, signal);
    }
  }
}

/** An `onRetry` that logs what failed and what happens next (codes and request ids, never a message body). */
export function logRetry(
  log: Log,
  message: string,
  extra: Record<string, unknown> = {},
): RetryOptions['onRetry'] {
  return ({ error, attempt, delayMs }) =>
    log.warn(message, {
      ...extra,
      attempt: attempt + 1,
      delayMs,
      code: error instanceof TrackerError ? error.code : 'InternalError',
      upstreamCode: error instanceof UpstreamError ? error.upstreamCode : undefined,
      requestId: error instanceof UpstreamError ? error.requestId : undefined,
    });
}
