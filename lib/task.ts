/**
 * The normalized task model: one shape for every upstream API.
 *
 * `status` is what callers branch on; `upstreamStatus` keeps the upstream's own value (a string for LKE, a
 * number for SMH) so nothing is lost when a new upstream value appears.
 */

import type { SmhTaskStatus, TaskStatus } from './contract';

export { TASK_STATUSES } from './contract';
export type {
  LkeTaskQuery,
  LkeTaskStatus,
  SmhTaskQuery,
  SmhTaskStatus,
  TaskResult,
  TaskStatus,
} from './contract';

/**
 * Statuses after which a task is not checked again: final upstream (`succeeded`, `failed`), or ended by us
 * (`expired`: given up on; `untracked`: a caller stopped tracking it). The last two can be tracked again.
 */
export function isFinished(status: TaskStatus | 'expired' | 'untracked'): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'expired' || status === 'untracked';
}

const LKE_STATUS_MAP: Readonly<Record<string, TaskStatus>> = {
  PENDING: 'pending',
  RUNNING: 'running',
  SUCCESS: 'succeeded',
  FAILED: 'failed',
};

/**
 * Maps LKE's `Status`. A missing value means the task has not started (`pending`); an undocumented value is
 * treated as still in progress (`running`) and kept in `upstreamStatus`, so it is polled again, never
 * reported as finished by guesswork.
 */
export function normalizeLkeStatus(upstream: string | null | undefined): TaskStatus {
  if (upstream === null || upstream === undefined || upstream === '') return 'pending';
  return LKE_STATUS_MAP[upstream.toUpperCase()] ?? 'running';
}

export interface SmhQueryResult {
  tasks: SmhTaskStatus[];
  /** Ids SMH did not return, or refused with `404 TaskNotFound`: unknown, or finished more than 30 days ago. */
  notFound: string[];
}

const SMH_STATUS_MAP: Readonly<Record<number, { status: TaskStatus; message: string }>> = {
  202: { status: 'running', message: '' },
  200: { status: 'succeeded', message: '' },
  204: { status: 'succeeded', message: '' },
  500: { status: 'failed', message: 'The task failed' },
  // From the task-result API: a partial success is not a success; the result says which items failed.
  207: { status: 'failed', message: 'The task partly succeeded: some items failed (see result)' },
  400: { status: 'failed', message: 'The task failed for every item' },
  // Known to Tencent's SMH SDKs: the user cancelled the task. It will never finish: reported as failed.
  499: { status: 'failed', message: 'The task was cancelled by the user' },
};

/** Maps SMH's numeric task status; an undocumented number counts as not finished. */
export function normalizeSmhStatus(upstream: number): { status: TaskStatus; message: string } {
  return SMH_STATUS_MAP[upstream] ?? { status: 'running', message: '' };
}
