import { mapLimit } from '../concurrency';
import { UpstreamNotFoundError, type Provider } from '../errors';
import type { LkeClient } from '../lke/client';
import type { SmhClient } from '../smh/client';
import type { LkeTaskStatus, SmhTaskStatus } from '../task';
import type { CallOptions } from '../upstream';
import { parseLkeTaskQuery, parseSmhTaskQuery } from '../validate';
import type { Observation, SmhIdentity, TrackedTask } from './model';

/** What one upstream check of a tracked task came to. */
export type CheckOutcome =
  | { kind: 'observed'; observation: Observation }
  /** The upstream no longer knows the task (unknown id, or past its retention): it ends as `expired`. */
  | { kind: 'gone'; message: string }
  | { kind: 'error'; error: unknown };

/** Checks a batch of tracked tasks of one provider upstream, as efficiently as that upstream allows. */
export interface Checker {
  provider: Provider;
  check(tasks: TrackedTask[], options: CallOptions): Promise<Map<string, CheckOutcome>>;
}

/** The part of an upstream answer (LKE or SMH) that a tracked record keeps. */
export function observation(task: LkeTaskStatus | SmhTaskStatus): Observation {
  return {
    status: task.status,
    upstreamStatus: task.upstreamStatus,
    result: task.result,
    message: task.message,
    checkedAt: task.checkedAt,
  };
}

export const SMH_GONE_MESSAGE = 'SMH no longer knows this task (unknown, or finished more than 30 days ago)';
export const LKE_GONE_MESSAGE = 'LKE does not know this task';

/** LKE has one task per call: up to `concurrency` calls in flight; the client's limiter keeps 20/s. */
export function lkeChecker(client: () => LkeClient, concurrency = 20): Checker {
  return {
    provider: 'lke',
    async check(tasks, options) {
      const outcomes = new Map<string, CheckOutcome>();
      await mapLimit(tasks, concurrency, async (task) => {
        try {
          const query = parseLkeTaskQuery(task.identity); // a damaged record fails here, not upstream
          outcomes.set(task.id, {
            kind: 'observed',
            observation: observation(await client().getTaskStatus(query, options)),
          });
        } catch (error) {
          const gone = error instanceof UpstreamNotFoundError && error.code === 'TaskNotFound';
          outcomes.set(
            task.id,
            gone ? { kind: 'gone', message: LKE_GONE_MESSAGE } : { kind: 'error', error },
          );
        }
      });
      return outcomes;
    },
  };
}

/** SMH answers many ids per call: one query per library/space/user group (the client batches the ids). */
export function smhChecker(client: () => SmhClient, concurrency = 4): Checker {
  return {
    provider: 'smh',
    async check(tasks, options) {
      const outcomes = new Map<string, CheckOutcome>();
      const groups = new Map<string, TrackedTask[]>();
      for (const task of tasks) {
        const { libraryId, spaceId, userId, taskId } = (task.identity ?? {}) as Partial<SmhIdentity>;
        try {
          // a damaged record fails here, not upstream
          parseSmhTaskQuery({ libraryId, spaceId: spaceId ?? undefined, userId, taskIds: [taskId] });
        } catch (error) {
          outcomes.set(task.id, { kind: 'error', error });
          continue;
        }
        const key = JSON.stringify([libraryId, spaceId, userId ?? null]);
        groups.set(key, [...(groups.get(key) ?? []), task]);
      }
      await mapLimit([...groups.values()], concurrency, async (group) => {
        const { libraryId, spaceId, userId } = (group[0] as TrackedTask).identity as SmhIdentity;
        const byTaskId = new Map(group.map((t) => [(t.identity as SmhIdentity).taskId, t]));
        try {
          const answer = await client().queryTasks(
            {
              libraryId,
              ...(spaceId === null ? {} : { spaceId }),
              taskIds: [...byTaskId.keys()],
              ...(userId === undefined ? {} : { userId }),
            },
            options,
          );
          for (const found of answer.tasks) {
            const task = byTaskId.get(found.taskId);
            if (task) outcomes.set(task.id, { kind: 'observed', observation: observation(found) });
          }
          for (const id of answer.notFound) {
            const task = byTaskId.get(id);
            if (task) outcomes.set(task.id, { kind: 'gone', message: SMH_GONE_MESSAGE });
          }
        } catch (error) {
          for (const task of group) outcomes.set(task.id, { kind: 'error', error });
        }
      });
      return outcomes;
    },
  };
}
