import { StoreUnavailableError } from '../errors';
import { isFinished, type LkeTaskQuery, type SmhTaskQuery } from '../task';
import {
  trackingId,
  type LkeIdentity,
  type NotifyTarget,
  type Observation,
  type SmhIdentity,
  type TaskIdentity,
  type TrackedTask,
} from './model';
import type { TaskStore } from './store';
import { addWaiter, isReopenable, newTask, observe, reopen, untrack } from './transitions';

/** Tracking as the API offers it: idempotent creation, and keeping records in step with on-demand reads. */

export { observation } from './model';

export function lkeIdentity(query: LkeTaskQuery): LkeIdentity {
  return { provider: 'lke', taskId: query.taskId, taskType: query.taskType, botBizId: query.botBizId };
}

export function smhIdentities(query: SmhTaskQuery): SmhIdentity[] {
  return query.taskIds.map((taskId) => smhIdentity(query, taskId));
}

export function smhIdentity(query: Omit<SmhTaskQuery, 'taskIds'>, taskId: string): SmhIdentity {
  const identity: SmhIdentity = {
    provider: 'smh',
    libraryId: query.libraryId,
    spaceId: query.spaceId ?? null,
    taskId,
  };
  if (query.userId !== undefined) identity.userId = query.userId;
  return identity;
}

export interface Tracked {
  task: TrackedTask;
  created: boolean;
}

/**
 * Starts tracking a task; tracking one that is already tracked answers the stored record (`created: false`).
 * An `expired` task is tracked again: back to `pending` and checked afresh. A `notify` target (a Step Functions
 * task token) is added to the record either way; on a task that has already finished, its callback is queued at
 * once. One waiter too many is refused (409 TooManyWaiters), never dropped.
 */
export async function track(
  store: TaskStore,
  identity: TaskIdentity,
  notify: NotifyTarget | null = null,
): Promise<Tracked> {
  const outcome = await store.create(newTask(identity, store.context(), notify));
  if (outcome.created || (!notify && !isReopenable(outcome.task.status))) return outcome;
  const updated = await store.update(
    outcome.task.id,
    (current, ctx) => {
      const reopened = reopen(current, ctx) ?? current;
      const waiting = notify ? addWaiter(reopened, notify, ctx) : null;
      return waiting ?? (reopened === current ? null : reopened);
    },
    { current: outcome.task },
  );
  return { task: updated?.task ?? outcome.task, created: false };
}

/**
 * Stores an on-demand reading: an unfinished task is tracked from this reading on (created if new); a finished
 * one only updates a record that already exists. A record that had expired (the upstream seemed not to know the
 * task) comes back to life with the reading. Answers the record, or undefined when nothing is tracked.
 */
export async function recordObservation(
  store: TaskStore,
  identity: TaskIdentity,
  observation: Observation,
): Promise<TrackedTask | undefined> {
  const id = trackingId(identity);
  if (!isFinished(observation.status)) {
    // The record starts when the reading was taken, so its times read in order (first seen, then checked).
    const ctx = { ...store.context(), now: Math.min(store.now(), Date.parse(observation.checkedAt)) };
    const fresh = observe(newTask(identity, ctx), observation, { ...ctx, now: store.now() }) as TrackedTask;
    const { task, created } = await store.create(fresh);
    if (created) return task;
  }
  const outcome = await store.update(id, (current, ctx) => {
    // An expired task comes back to life with the reading: reopened when the reading was taken, so its history
    // reads in order.
    // Never before the record ended (a reading taken before it expired or was untracked): its history stays in
    // order, and the request to track, written last, reopens it from now.
    const ended = current.finishedAt ? Date.parse(current.finishedAt) : 0;
    const readAt = { ...ctx, now: Math.max(ended, Math.min(ctx.now, Date.parse(observation.checkedAt))) };
    const reopened = reopen(current, readAt);
    // A reading older than the last check stored changes nothing, but the caller asked to track: the reopened
    // record is written all the same (checks resume), never an answer of "tracked" on a record left untracked.
    return observe(reopened ?? current, observation, ctx) ?? reopened;
  });
  return outcome?.task;
}

/**
 * Stops tracking a task (`DELETE /tasks/{id}`): see transitions `untrack`. Answers the record (as it was, when
 * it had already finished or been untracked: idempotent), or undefined when no task has that id.
 */
export async function untrackTask(
  store: TaskStore,
  id: string,
  requestId: string,
): Promise<TrackedTask | undefined> {
  const outcome = await store.update(id, (current, ctx) => untrack(current, requestId, ctx));
  return outcome?.task;
}

/** What `?track=true` adds to an on-demand answer: the tracking id, or why tracking failed this time. */
export type TrackingNote = { trackingId?: string; trackingError?: { code: string; message: string } };

/**
 * `?track=true`: stores the reading; when the table is unavailable, the upstream answer is not thrown away: the
 * caller gets it with `trackingError` instead of `trackingId`, and may track again later.
 */
export async function trackReading(
  store: TaskStore,
  identity: TaskIdentity,
  reading: Observation,
): Promise<TrackingNote> {
  try {
    const record = await recordObservation(store, identity, reading);
    return record ? { trackingId: record.id } : {};
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    return { trackingError: { code: error.code, message: error.message } };
  }
}
