import { createHash } from 'node:crypto';
import type { PublicTask, ResultCut, TaskResult, TaskStatus, TrackedStatus } from '../contract';
import type { LkeTaskQuery, LkeTaskStatus, SmhTaskStatus } from '../task';

/**
 * A tracked task: what the table stores and `GET /tasks/{id}` answers.
 *
 * The id is derived from the task's identity, so tracking the same task twice finds the same record
 * (idempotent) without a lookup index.
 */
export type { TrackedStatus } from '../contract';

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

/**
 * An EventBridge event owed for a status change. It holds a reference, not a copy: the status the change went
 * to, and the event is built from the record when it is delivered (lib/handover/payloads.ts), so a large result
 * is stored once.
 */
export interface EventEntry {
  id: string;
  kind: 'event';
  detailType: string;
  /** The change the event announces (the record may have moved on by the time it is delivered). */
  status: TrackedStatus;
  upstreamStatus: string | number | null;
  message: string;
  at: string;
  attempts: number;
  nextAttemptAt: string;
}

/** A Step Functions callback owed for a finished task; its payload is built from the record at delivery. */
export interface CallbackEntry {
  id: string;
  kind: 'callback';
  taskToken: string;
  /** When it was queued. */
  at: string;
  attempts: number;
  nextAttemptAt: string;
}

/**
 * Notifications owed for this record. They are written in the same conditional write as the status change they
 * announce, removed once delivered, retried with backoff per entry, and moved to `undelivered` when they can
 * never succeed: at-least-once delivery, or a dead letter with its reason.
 */
export type OutboxEntry = EventEntry | CallbackEntry;

/** A notification given up on: kept on the record (the last few) and logged as an error. */
export interface DeadLetter {
  id: string;
  kind: OutboxEntry['kind'];
  detailType?: string;
  /** Why: the AWS error code, or `GaveUp` after too many attempts. */
  code: string;
  reason: string;
  attempts: number;
  at: string;
}

/** Consecutive checks that answered the same task-level refusal (see lib/tracking/transitions.ts `strike`). */
export interface Strikes {
  code: string;
  count: number;
  since: string;
}

/** How a result too large for the table was cut (see lib/tracking/item-size.ts). */
export type { ResultCut } from '../contract';

export interface TrackedTask {
  id: string;
  identity: TaskIdentity;
  status: TrackedStatus;
  upstreamStatus: string | number | null;
  /** As the upstream sent it (object or array), stored once; cut only when it cannot fit in an item. */
  result: TaskResult;
  resultTruncated: ResultCut | null;
  message: string;
  /** Upstream checks made so far (by the pollers and on demand, successful or not). */
  attempts: number;
  /** The pollers' own checks since (re)tracking: the backoff follows these, not on-demand reads. */
  polls: number;
  strikes: Strikes | null;
  lastError: { code: string; message: string; at: string } | null;
  firstSeenAt: string;
  /** When tracking (re)started: the max age counts from here. */
  trackedAt: string;
  lastCheckedAt: string | null;
  nextCheckAt: string | null;
  finishedAt: string | null;
  history: HistoryEntry[];
  /** Optimistic-concurrency version: every write is conditional on the version it read. */
  version: number;
  /** Random id of the write that stored this version, so a retried write recognises itself. */
  writeId?: string;
  /**
   * Set while a poller holds the task; expires by itself. A claim for a check also writes, up front, what an
   * unchanged answer would (one more check, the next check time): `check` keeps what it replaced, so the claim
   * can be undone if the check does not happen. Due again at the later of `until` and the next check.
   */
  lease: { owner: string; until: string; check?: ClaimedCheck } | null;
  notify: NotifyTarget | null;
  outbox: OutboxEntry[];
  undelivered: DeadLetter[];
  /** While `untracked`: when, and by which request (its AWS request id), tracking was stopped. */
  untracked?: Untracked;
}

export interface Untracked {
  at: string;
  requestId: string;
}

/** What a claim for a check replaced (lib/tracking/transitions.ts `claim`), and when it was made. */
export interface ClaimedCheck {
  at: string;
  attempts: number;
  polls: number;
  nextCheckAt: string | null;
  lastCheckedAt: string | null;
}

/** The public view of a record (`lib/contract-outputs.ts` TRACKED_TASK): everything but concurrency and hand-over internals. */
export type { PublicTask } from '../contract';

export const HISTORY_LIMIT = 50;
/** Dead letters kept on a record (the most recent ones); every one is also logged. */
export const UNDELIVERED_LIMIT = 20;
/**
 * Step Functions executions that may wait on one task. A task token is up to 2 KB, so this bounds the record at
 * 50 KB of tokens; the next waiter is refused with 409 TooManyWaiters, never dropped.
 */
export const MAX_WAITERS = 25;

export function trackingId(identity: TaskIdentity): string {
  const parts =
    identity.provider === 'lke'
      ? ['lke', identity.botBizId, identity.taskType, identity.taskId]
      : ['smh', identity.libraryId, identity.spaceId ?? '', identity.taskId, identity.userId ?? ''];
  const digest = createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 24);
  return `${identity.provider}_${digest}`;
}

/**
 * Where a record sits in the `byIdentity` index (lib/tracking/table.ts): its upstream scope (an LKE application,
 * an SMH library) and, within it, the rest of its identity in order, so that a prefix of the identity is a prefix
 * of the key. No identity field may hold `#` (lib/contract.ts): the parts never run into each other.
 */
export function identityKey(identity: TaskIdentity): { scope: string; scopeSk: string } {
  return identity.provider === 'lke'
    ? { scope: `lke#${identity.botBizId}`, scopeSk: `${identity.taskType}#${identity.taskId}` }
    : {
        scope: `smh#${identity.libraryId}`,
        scopeSk: `${identity.spaceId ?? '~'}#${identity.taskId}#${identity.userId ?? ''}`,
      };
}

export function toPublic(task: TrackedTask): PublicTask {
  const { identity } = task;
  return {
    id: task.id,
    ...identity,
    status: task.status,
    upstreamStatus: task.upstreamStatus,
    result: task.result,
    resultTruncated: task.resultTruncated,
    message: task.message,
    attempts: task.attempts,
    lastError: task.lastError,
    firstSeenAt: task.firstSeenAt,
    trackedAt: task.trackedAt,
    lastCheckedAt: task.lastCheckedAt,
    nextCheckAt: task.nextCheckAt,
    finishedAt: task.finishedAt,
    history: task.history,
    waiters: waiterTokens(task).length,
    ...(task.untracked ? { untracked: task.untracked } : {}),
    undelivered: task.undelivered.map(({ id, kind, detailType, code, reason, at }) =>
      detailType === undefined ? { id, kind, code, reason, at } : { id, kind, detailType, code, reason, at },
    ),
  };
}

/** Every execution still owed a callback: waiting for the task, or with its callback queued. */
export function waiterTokens(task: Pick<TrackedTask, 'notify' | 'outbox'>): string[] {
  return [
    ...(task.notify?.taskTokens ?? []),
    ...task.outbox.flatMap((e) => (e.kind === 'callback' ? [e.taskToken] : [])),
  ];
}

/** One upstream reading of a task's state (from a poll or an on-demand query). */
export interface Observation {
  status: TaskStatus;
  upstreamStatus: string | number | null;
  result: TaskResult;
  message: string;
  checkedAt: string;
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
