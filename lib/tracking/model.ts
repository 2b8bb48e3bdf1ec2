import { createHash } from 'node:crypto';
import type { Provider } from '../errors';
import type { LkeTaskQuery, TaskStatus } from '../task';

/**
 * A tracked task: what the table stores and `GET /tasks/{id}` answers.
 *
 * The id is derived from the task's identity, so tracking the same task twice finds the same record
 * (idempotent) without a lookup index.
 */
export type TrackedStatus = TaskStatus | 'expired';

export interface LkeIdentity extends LkeTaskQuery {
  provider: 'lke';
}

export interface SmhIdentity {
  provider: 'smh';
  libraryId: string;
  /** A space id, `-` for single-tenant, or null for a library-level task. */
  spaceId: string | null;
  taskId: string;
  userId?: string;
}

export type TaskIdentity = LkeIdentity | SmhIdentity;

export interface HistoryEntry {
  status: TrackedStatus;
  upstreamStatus: string | number | null;
  at: string;
}

/** Where to hand a finished task over (issue: hand-over); stored with the record. */
export interface NotifyTarget {
  taskToken?: string;
  heartbeat?: boolean;
}

export interface TrackedTask {
  id: string;
  identity: TaskIdentity;
  status: TrackedStatus;
  upstreamStatus: string | number | null;
  result: Record<string, unknown> | null;
  message: string;
  /** Upstream checks made so far (successful or not). */
  attempts: number;
  /** Consecutive failed checks; reset by a successful one. */
  errors: number;
  lastError: { code: string; message: string; at: string } | null;
  firstSeenAt: string;
  lastCheckedAt: string | null;
  nextCheckAt: string | null;
  finishedAt: string | null;
  history: HistoryEntry[];
  /** Optimistic-concurrency version: every write is conditional on the version it read. */
  version: number;
  /** Set while a poller holds the task; expires by itself (the task is due again at `leaseUntil`). */
  lease: { owner: string; until: string } | null;
  notify: NotifyTarget | null;
}

/** The public view of a record: everything but the internals of concurrency and hand-over. */
export interface PublicTask {
  id: string;
  provider: Provider;
  taskId: string;
  [identity: string]: unknown;
}

export const HISTORY_LIMIT = 50;

export function trackingId(identity: TaskIdentity): string {
  const parts =
    identity.provider === 'lke'
      ? ['lke', identity.botBizId, identity.taskType, identity.taskId]
      : ['smh', identity.libraryId, identity.spaceId ?? '', identity.taskId, identity.userId ?? ''];
  const digest = createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 24);
  return `${identity.provider}_${digest}`;
}

export function toPublic(task: TrackedTask): PublicTask {
  const { identity } = task;
  return {
    id: task.id,
    ...identity,
    status: task.status,
    upstreamStatus: task.upstreamStatus,
    result: task.result,
    message: task.message,
    attempts: task.attempts,
    lastError: task.lastError,
    firstSeenAt: task.firstSeenAt,
    lastCheckedAt: task.lastCheckedAt,
    nextCheckAt: task.nextCheckAt,
    finishedAt: task.finishedAt,
    history: task.history,
  };
}

/** One upstream reading of a task's state (from a poll or an on-demand query). */
export interface Observation {
  status: TaskStatus | 'expired';
  upstreamStatus: string | number | null;
  result: Record<string, unknown> | null;
  message: string;
  checkedAt: string;
}
