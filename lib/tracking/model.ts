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

/** Step Functions executions waiting for the task (`waitForTaskToken`); tokens are never logged or returned. */
export interface NotifyTarget {
  taskTokens: string[];
  /** Send `SendTaskHeartbeat` after each check, for state machines with a HeartbeatSeconds. */
  heartbeat: boolean;
}

export const TERMINAL_DETAIL_TYPES = {
  succeeded: 'Task Succeeded',
  failed: 'Task Failed',
  expired: 'Task Expired',
} as const;
export const CHANGED_DETAIL_TYPE = 'Task Status Changed';

/** An EventBridge event to publish: the record as it was when its status changed. */
export interface EventEntry {
  id: string;
  kind: 'event';
  detailType: string;
  detail: PublicTask;
  at: string;
  attempts: number;
}

/** A Step Functions callback to send for a finished task. */
export interface CallbackEntry {
  id: string;
  kind: 'callback';
  taskToken: string;
  outcome: 'success' | 'failure';
  /** SendTaskSuccess output: the record. */
  output?: PublicTask;
  /** SendTaskFailure error name and cause. */
  error?: string;
  cause?: string;
  attempts: number;
}

/**
 * Notifications owed for this record. They are written in the same conditional write as the status change they
 * announce, removed once delivered, and swept by the pollers while any remain: at-least-once delivery.
 */
export type OutboxEntry = EventEntry | CallbackEntry;

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
  outbox: OutboxEntry[];
  /** When the pollers should next try to deliver the outbox (set while it is not empty). */
  outboxDueAt: string | null;
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
    waiters: task.notify?.taskTokens.length ?? 0,
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
