import { silentLog, type Log } from '../log';
import type { CallbackEntry, EventEntry, TrackedTask } from '../tracking/model';
import type { TaskStore } from '../tracking/store';
import { settleOutbox, type Delivery } from '../tracking/transitions';
import { DEAD_TOKEN_ERRORS, tokenFingerprint, type Notifier } from './notifier';
import { callbackPayload, prepareEvent } from './payloads';

export interface Delivered {
  /** Entries delivered now. */
  delivered: number;
  /** Entries given up on now (dead letters, kept on the record under `undelivered`). */
  deadLettered: number;
  /** Entries left in the outbox for a later sweep. */
  remaining: number;
  /** Whether the record was written (outcomes settled, the caller's lease let go). */
  settled: boolean;
}

export interface DeliverOptions {
  owner?: string;
  log?: Log;
  /** Entries the caller just queued: delivered now even though the sweep would wait for them. */
  fresh?: ReadonlySet<string>;
  /** Ends the hand-over when the caller's time is up (what was not delivered is retried later). */
  signal?: AbortSignal;
}

/**
 * Delivers a record's due outbox entries, building each payload from the record now, and settles the outcome in
 * a conditional write: done entries leave, failed ones are rescheduled on their own backoff, hopeless ones become
 * dead letters (logged as errors, with the reason). If the process dies before that write, the entries stay and
 * the next sweep delivers them again with the same ids: at-least-once.
 */
export async function deliverOutbox(
  store: TaskStore,
  notifier: Notifier,
  task: TrackedTask,
  options: DeliverOptions = {},
): Promise<Delivered> {
  const log = options.log ?? silentLog;
  const now = store.now();
  const due = task.outbox.filter(
    (e) => options.fresh?.has(e.id) === true || Date.parse(e.nextAttemptAt) <= now,
  );
  const events = due.filter((e): e is EventEntry => e.kind === 'event');
  const callbacks = due.filter((e): e is CallbackEntry => e.kind === 'callback');
  const results = new Map<string, Delivery>();
  if (events.length > 0) {
    try {
      const prepared = events.map((entry) => prepareEvent(task, entry));
      for (const [id, result] of await notifier.publish(prepared, { signal: options.signal }))
        results.set(id, result);
    } catch (error) {
      const reason = `publishing failed: ${(error as Error).name}`;
      if (!options.signal?.aborted)
        for (const entry of events) results.set(entry.id, { outcome: 'retry', reason });
    }
  }
  if (callbacks.length > 0) {
    const payload = callbackPayload(task);
    for (const entry of callbacks) {
      try {
        if (options.signal?.aborted) break; // out of time: retried later
        results.set(entry.id, await notifier.callback(entry.taskToken, payload, { signal: options.signal }));
      } catch (error) {
        results.set(entry.id, { outcome: 'retry', reason: `callback failed: ${(error as Error).name}` });
      }
    }
  }
  if (results.size === 0)
    return { delivered: 0, deadLettered: 0, remaining: task.outbox.length, settled: false };

  const written = await store.update(task.id, (current, ctx) => settleOutbox(current, results, ctx), {
    current: task,
    owner: options.owner,
  });
  const after = written?.task;
  const known = new Set(task.undelivered.map((d) => d.id));
  const dead = (after?.undelivered ?? []).filter((d) => !known.has(d.id) && results.has(d.id));
  for (const letter of dead) {
    const entry = task.outbox.find((e) => e.id === letter.id);
    const token = entry?.kind === 'callback' ? tokenFingerprint(entry.taskToken) : undefined;
    const facts = { id: task.id, entryId: letter.id, code: letter.code, reason: letter.reason, token };
    // A token Step Functions no longer knows only means the execution stopped waiting: not our failure.
    if (DEAD_TOKEN_ERRORS.has(letter.code))
      log.warn('the execution no longer waits; callback dropped', facts);
    else log.error('notification dead-lettered: it will not be delivered', facts);
  }
  const delivered = [...results.values()].filter((r) => r.outcome === 'done').length;
  return {
    delivered,
    deadLettered: dead.length,
    remaining: after?.outbox.length ?? 0,
    settled: !!written?.written,
  };
}
