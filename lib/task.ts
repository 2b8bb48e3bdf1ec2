/**
 * The normalized task model: one shape for every upstream API.
 *
 * `status` is what callers branch on; `upstreamStatus` keeps the upstream's own value (a string for LKE, a
 * number for SMH) so nothing is lost when a new upstream value appears.
 */

export const TASK_STATUSES = ['pending', 'running', 'succeeded', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses after which a task never changes again. */
export function isFinished(status: TaskStatus | 'expired'): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'expired';
}

export interface LkeTaskQuery {
  taskId: string;
  taskType: string;
  botBizId: string;
}

export interface LkeTaskStatus extends LkeTaskQuery {
  provider: 'lke';
  status: TaskStatus;
  /** LKE's `Status` as sent (`PENDING`, `RUNNING`, `SUCCESS`, `FAILED`, or anything new); null when absent. */
  upstreamStatus: string | null;
  message: string;
  result: { cosPath: string | null };
  requestId: string;
  checkedAt: string;
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
