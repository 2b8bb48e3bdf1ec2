/**
 * The one backoff curve of the service: attempt n (0-based) waits `min(maxMs, baseMs × factor^n)`, optionally
 * with full jitter (a uniform random part of that ceiling). Every wait the service makes between tries is one of
 * the named policies below, or one built from configuration with the same shape.
 */
export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  maxMs: number;
  /** `full`: a random wait between 0 and the ceiling (spreads out callers that failed together). */
  jitter: 'none' | 'full';
}

export function backoffMs(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, attempt));
  return policy.jitter === 'full' ? Math.floor(random() * ceiling) : ceiling;
}

/** Re-delivery of an outbox entry that failed: 30 s, 1 min, 2 min … up to every 15 minutes. */
export const OUTBOX_RETRY: BackoffPolicy = { baseMs: 30_000, factor: 2, maxMs: 15 * 60_000, jitter: 'none' };

/** Re-sending PutEvents entries EventBridge refused, within one delivery. */
export const PUT_EVENTS_RETRY: BackoffPolicy = { baseMs: 200, factor: 2, maxMs: 1_000, jitter: 'full' };

/** A conditional write that lost a race: re-read and re-apply after a short random wait. */
export const WRITE_CONFLICT: BackoffPolicy = { baseMs: 10, factor: 2, maxMs: 200, jitter: 'full' };
