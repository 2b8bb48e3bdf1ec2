import { mapLimit } from '../concurrency';
import {
  TrackerError,
  UpstreamFailedError,
  UpstreamNotFoundError,
  UpstreamRejectedError,
  ValidationError,
  type Provider,
} from '../errors';
import type { LkeClient } from '../lke/client';
import type { SmhClient } from '../smh/client';
import type { CallOptions } from '../upstream';
import { parseLkeTaskQuery, parseSmhTaskQuery } from '../validate';
import { observation, type Observation, type SmhIdentity, type TrackedTask } from './model';
import type { Failure } from './transitions';

/**
 * What one upstream check of a tracked task came to:
 * - `observed`: a status;
 * - `gone`: the upstream does not know the task (unknown id, or past its retention);
 * - `refused`: the upstream refused a request about this very task with an error that will not go away by itself
 *   (a rejected parameter, `FailedOperation`, an unknown code), or the record itself is damaged;
 * - `error`: anything that says nothing about the task (throttling, outages, timeouts, credentials,
 *   configuration): retried with backoff until the task's max age;
 * - `deferred`: not asked yet, to be checked with the next batch of the same run (it would have gone in a
 *   request of its own, part empty); never when the check is `final`.
 */
export type CheckOutcome =
  | { kind: 'observed'; observation: Observation }
  | { kind: 'gone'; failure: Failure }
  | { kind: 'refused'; failure: Failure }
  | { kind: 'error'; error: unknown }
  | { kind: 'deferred' };

/**
 * Per check: the caller's time; whether this is the run's last batch (nothing may be deferred); tasks deferred
 * once already, which are never deferred again (so none waits more than one batch).
 */
export type CheckOptions = CallOptions & { final?: boolean; deferredBefore?: ReadonlySet<string> };

/** Checks a batch of tracked tasks of one provider upstream, as efficiently as that upstream allows. */
export interface Checker {
  provider: Provider;
  /**
   * Tasks a run claims at a time, and at most per run, unless POLL_BATCH_SIZE / POLL_MAX_TASKS_PER_RUN say
   * otherwise. LKE checks one task per call at 20/s: batches of 200 take ~11 s, and the ~250 ms in which a batch's
   * last answers drain before the next batch starts cost under 3 % of the quota. SMH answers up to 100 ids
   * per call: a batch of 2,000 (and deferring the ids of a part-full request to the next batch) fills them.
   * Either way a claim also stops at CLAIM_MAX_BYTES of records.
   */
  runLimits: { batchSize: number; maxTasksPerRun: number };
  /** What `gone` means for this upstream, for the message of a task that ends `expired` for it. */
  goneMessage: string;
  /** The most checks a second this upstream allows (LKE: the account's quota), when it has such a limit. */
  pacePerSecond?(): number;
  /**
   * Checks the tasks; answers every outcome, and hands each to `onOutcome` as soon as it is known (so the poller
   * stores it while the rest of the batch is still being checked).
   */
  check(
    tasks: TrackedTask[],
    options: CheckOptions,
    onOutcome?: (task: TrackedTask, outcome: CheckOutcome) => void,
  ): Promise<Map<string, CheckOutcome>>;
}

export { observation };

export const SMH_GONE_MESSAGE = 'SMH no longer knows this task (unknown, or finished more than 30 days ago)';
export const LKE_GONE_MESSAGE = 'LKE does not know this task';

/** The one place that decides which errors are about the task (and count towards giving it up). */
export function outcomeOfError(error: unknown): CheckOutcome {
  if (error instanceof UpstreamNotFoundError && error.code === 'TaskNotFound') {
    return { kind: 'gone', failure: { code: error.code, message: error.message } };
  }
  // A 404 whose code we do not know (or an HTML page: a wrong host, a gateway) names nothing about the task.
  if (error instanceof UpstreamFailedError && error.upstreamHttpStatus === 404)
    return { kind: 'error', error };
  if (
    error instanceof UpstreamRejectedError ||
    error instanceof UpstreamFailedError ||
    error instanceof ValidationError
  ) {
    return { kind: 'refused', failure: { code: (error as TrackerError).code, message: error.message } };
  }
  return { kind: 'error', error };
}

/** The outcomes of one check, each also handed to `onOutcome` as soon as it is known. */
function outcomeRecorder(onOutcome?: (task: TrackedTask, outcome: CheckOutcome) => void) {
  const outcomes = new Map<string, CheckOutcome>();
  const found = (task: TrackedTask, outcome: CheckOutcome) => {
    outcomes.set(task.id, outcome);
    onOutcome?.(task, outcome);
  };
  return { outcomes, found };
}

/** LKE has one task per call: up to `concurrency` calls in flight; the client's limiter keeps 20/s. */
export function lkeChecker(client: () => LkeClient, concurrency = 20): Checker {
  return {
    provider: 'lke',
    goneMessage: LKE_GONE_MESSAGE,
    runLimits: { batchSize: 200, maxTasksPerRun: 2000 },
    pacePerSecond: () => client().rateLimitPerSecond,
    async check(tasks, options, onOutcome) {
      const { outcomes, found } = outcomeRecorder(onOutcome);
      const { deadline, signal } = options;
      await mapLimit(tasks, concurrency, async (task) => {
        let outcome: CheckOutcome;
        try {
          const query = parseLkeTaskQuery(task.identity); // a damaged record fails here, not upstream
          const status = await client().getTaskStatus(query, { deadline, signal, priority: 'poll' });
          outcome = { kind: 'observed', observation: observation(status) };
        } catch (error) {
          outcome = outcomeOfError(error);
        }
        found(task, outcome);
      });
      await client().releaseQuota({ deadline, signal }); // slots this batch did not use go back to the quota
      return outcomes;
    },
  };
}

/**
 * SMH answers many ids per call: one query per library/space/user group (the client splits it into requests of
 * `maxIdsPerRequest`). Unless the batch is the run's last, a group's ids beyond its last full request are
 * deferred to the next batch, where they join that group's ids: every request but the last goes out full.
 */
export function smhChecker(client: () => SmhClient, concurrency = 4): Checker {
  return {
    provider: 'smh',
    goneMessage: SMH_GONE_MESSAGE,
    runLimits: { batchSize: 2000, maxTasksPerRun: 20_000 },
    async check(tasks, options, onOutcome) {
      const { outcomes, found } = outcomeRecorder(onOutcome);
      const groups = new Map<string, TrackedTask[]>();
      for (const task of tasks) {
        const { libraryId, spaceId, userId, taskId } = (task.identity ?? {}) as Partial<SmhIdentity>;
        try {
          // a damaged record fails here, not upstream
          parseSmhTaskQuery({ libraryId, spaceId: spaceId ?? undefined, userId, taskIds: [taskId] });
        } catch (error) {
          found(task, outcomeOfError(error));
          continue;
        }
        const key = JSON.stringify([libraryId, spaceId, userId ?? null]);
        groups.set(key, [...(groups.get(key) ?? []), task]);
      }
      const perRequest = client().maxIdsPerRequest;
      const before = options.deferredBefore ?? new Set<string>();
      const asked = [...groups.values()].map((unordered) => {
        const carried = unordered.filter((task) => before.has(task.id));
        const group = [...carried, ...unordered.filter((task) => !before.has(task.id))];
        const full = group.length - (group.length % perRequest);
        const keep = options.final ? group.length : Math.max(full, carried.length);
        for (const task of group.slice(keep)) outcomes.set(task.id, { kind: 'deferred' });
        return group.slice(0, keep);
      });
      await mapLimit(
        asked.filter((group) => group.length > 0),
        concurrency,
        async (group) => {
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
              { deadline: options.deadline, signal: options.signal },
            );
            for (const status of answer.tasks) {
              const task = byTaskId.get(status.taskId);
              if (task) found(task, { kind: 'observed', observation: observation(status) });
            }
            for (const id of answer.notFound) {
              const task = byTaskId.get(id);
              if (task)
                found(task, { kind: 'gone', failure: { code: 'TaskNotFound', message: SMH_GONE_MESSAGE } });
            }
          } catch (error) {
            // A refusal of a request for several tasks says nothing about any one of them (per-id refusals,
            // `TaskNotFound`, are split out by the client): it counts against a task only when it was alone.
            const outcome = group.length === 1 ? outcomeOfError(error) : { kind: 'error' as const, error };
            for (const task of group) found(task, outcome);
          }
        },
      );
      return outcomes;
    },
  };
}
