import { setMaxListeners } from 'node:events';
/** What every upstream call accepts: the caller's deadline (epoch ms) and/or a signal (e.g. the Lambda's time). */
export interface CallOptions {
  deadline?: number;
  signal?: AbortSignal;
}

/** More listeners than this on one signal would be a leak (the service makes at most ~50 calls at once). */
const CONCURRENT_CALLS_PER_SIGNAL = 200;
/** The longest delay Node's timers take (2^31 − 1 ms, ~24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A signal that aborts after `timeoutMs` (reason: a `TimeoutError`, like `AbortSignal.timeout`) or when `caller`
 * aborts. Call `clear()` when the work is done: it stops the timer and the listener at once. `AbortSignal.timeout`
 * cannot be cleared, and its pending timer keeps everything of the async context it was created in (an
 * invocation's logger, ~9 KB) alive: a warm container leaked that much per invocation.
 */
export function deadlineSignal(timeoutMs: number, caller?: AbortSignal) {
  const controller = new AbortController();
  // An invocation's signal is shared by every call it makes at once (20 LKE checks, 8 writes, …), each adding
  // and removing its listener: that is concurrency, not the leak Node's default limit of 10 warns about.
  setMaxListeners(CONCURRENT_CALLS_PER_SIGNAL, controller.signal);
  let timedOut = false;
  // Beyond Node's longest timer there is no timeout to keep (a deadline weeks away): none is set.
  const timer =
    timeoutMs > MAX_TIMER_MS
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
        }, timeoutMs);
  timer?.unref();
  const onAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    /** Whether an abort came from the timeout or the caller: report a timeout rather than a network error. */
    timedOut: () => timedOut || caller?.aborted === true,
    clear: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}

/** One attempt's time: its own timeout, cut at the caller's deadline (at least 1 ms: the call then times out). */
export function attemptBudget(timeoutMs: number, deadline?: number): number {
  return deadline === undefined ? timeoutMs : Math.max(1, Math.min(timeoutMs, deadline - Date.now()));
}
