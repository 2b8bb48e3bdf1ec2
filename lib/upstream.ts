/** What every upstream call accepts: the caller's deadline (epoch ms) and/or a signal (e.g. the Lambda's time). */
export interface CallOptions {
  deadline?: number;
  signal?: AbortSignal;
}

/**
 * The signal for one attempt: aborts after `timeoutMs` or when the caller's signal aborts. `timedOut()` tells
 * afterwards whether an abort came from either, so a client can report a timeout rather than a network error.
 */
export function attemptSignal(timeoutMs: number, caller?: AbortSignal) {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = caller ? AbortSignal.any([caller, timeout]) : timeout;
  return { signal, timedOut: () => timeout.aborted || caller?.aborted === true };
}
