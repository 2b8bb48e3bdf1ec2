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
import { addWaiter, newTask, observe } from './transitions';

/** Tracking as the API offers it: idempotent creation, and keeping records in step with on-demand reads. */

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
 * A `notify` target (a Step Functions task token) is added to the record either way; on a task that has already
 * finished, its callback is queued at once.
 */
export async function track(
  store: TaskStore,
  identity: TaskIdentity,
  notify: NotifyTarget | null = null,
): Promise<Tracked> {
  const outcome = await store.create(newTask(identity, store.context(), notify));
  if (outcome.created || !notify) return outcome;
  const updated = await store.update(outcome.task.id, (current, ctx) => addWaiter(current, notify, ctx), {
    current: outcome.task,
  });
  return { task: updated?.task ?? outcome.task, created: false };
}

/**
 * Stores an on-demand reading: an unfinished task is tracked from this reading on (created if new); a finished
 * one only updates a record that already exists. Answers the record, or undefined when nothing is tracked.
 */
export async function recordObservation(
  store: TaskStore,
  identity: TaskIdentity,
  observation: Observation,
): Promise<TrackedTask | undefined> {
  const id = trackingId(identity);
  if (!isFinished(observation.status)) {
    const ctx = store.context();
    const fresh = observe(newTask(identity, ctx), observation, ctx) as TrackedTask;
    const { task, created } = await store.create(fresh);
    if (created) return task;
  }
  const outcome = await store.update(id, (current, ctx) => observe(current, observation, ctx));
  return outcome?.task;
}
