import { silentLog, type Log } from '../log';
import type { CallbackEntry, EventEntry, TrackedTask } from '../tracking/model';
import type { TaskStore } from '../tracking/store';
import { settleOutbox } from '../tracking/transitions';
import type { Notifier } from './notifier';

export interface Delivered {
  /** Entries done: delivered, or dropped for good (dead task tokens). */
  done: number;
  /** Entries left in the outbox for a later sweep. */
  remaining: number;
}

/**
 * Delivers a record's outbox and removes what is done, in a conditional write. If the process dies before that
 * write, the entries stay and the next sweep delivers them again, with the same ids: at-least-once.
 */
export async function deliverOutbox(
  store: TaskStore,
  notifier: Notifier,
  task: TrackedTask,
  options: { owner?: string; log?: Log } = {},
): Promise<Delivered> {
  const log = options.log ?? silentLog;
  const events = task.outbox.filter((e): e is EventEntry => e.kind === 'event');
  const callbacks = task.outbox.filter((e): e is CallbackEntry => e.kind === 'callback');
  const done = new Set<string>();
  try {
    for (const id of await notifier.publish(events)) done.add(id);
  } catch (error) {
    log.warn('publishing events failed; they stay in the outbox', {
      id: task.id,
      error: (error as Error).name,
    });
  }
  for (const entry of callbacks) {
    try {
      if ((await notifier.callback(entry)) !== 'retry') done.add(entry.id);
    } catch (error) {
      log.warn('callback failed; it stays in the outbox', {
        id: task.id,
        entryId: entry.id,
        error: (error as Error).name,
      });
    }
  }
  const tried = new Set(task.outbox.map((e) => e.id));
  const written = await store.update(task.id, (current, ctx) => settleOutbox(current, tried, done, ctx), {
    current: task,
    owner: options.owner,
  });
  return { done: done.size, remaining: written?.task.outbox.length ?? 0 };
}
