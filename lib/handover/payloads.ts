import type { TaskEventDetail } from '../contract';
import { stringifyJson } from '../json';
import { utf8Bytes } from '../tracking/item-size';
import { toPublic, type EventEntry, type TrackedTask } from '../tracking/model';

/**
 * What a hand-over says: EventBridge event details and Step Functions callback payloads, built from the record
 * when they are delivered (outbox entries hold references, not copies), within AWS's limits:
 *
 * - PutEvents: at most 10 entries and 256 KB per request, an entry's size counted as AWS documents it
 *   (Source + DetailType + Detail + Resources in UTF-8 bytes, + 14 bytes when Time is set);
 * - SendTaskSuccess: an output of at most 256 KB (UTF-8);
 * - SendTaskFailure: an error name of at most 256 characters and a cause of at most 32,768.
 *
 * A result too large to hand over is left out: the payload has `"result": null, "resultOmitted": true`, and the
 * caller reads the whole record with `getTask`.
 *
 * Payloads are written with `stringifyJson` (lib/json.ts): a number a double does not keep (an ExactNumber in
 * the result) goes out with every digit, as a JSON number, and the sizes checked are those of the text sent.
 */
export const EVENT_SOURCE = 'tencent-task-tracker';
export const CHANGED_DETAIL_TYPE = 'Task Status Changed';
export const TERMINAL_DETAIL_TYPES = {
  succeeded: 'Task Succeeded',
  failed: 'Task Failed',
  expired: 'Task Expired',
  untracked: 'Task Untracked',
} as const;
/** The `error` names SendTaskFailure uses, for a state machine's Catch, by the status that ended the task. */
export const CALLBACK_ERRORS = {
  failed: 'TaskFailed',
  expired: 'TaskExpired',
  untracked: 'TaskUntracked',
} as const;

export const AWS_LIMITS = {
  putEventsEntries: 10,
  putEventsBytes: 256 * 1024,
  taskOutputBytes: 256 * 1024,
  taskErrorChars: 256,
  taskCauseChars: 32_768,
  taskTokenChars: 2048,
} as const;

export interface PutEventsEntrySize {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  Time?: Date | string;
  Resources?: string[];
}

/** An entry's size as EventBridge counts it against the 256 KB of a PutEvents request. */
export function putEventsEntrySize(entry: PutEventsEntrySize): number {
  return (
    (entry.Time !== undefined ? 14 : 0) +
    utf8Bytes(entry.Source ?? '') +
    utf8Bytes(entry.DetailType ?? '') +
    utf8Bytes(entry.Detail ?? '') +
    (entry.Resources ?? []).reduce((sum, r) => sum + utf8Bytes(r), 0)
  );
}

/** An event ready to send: what PutEvents gets, plus our entry id. */
export interface PreparedEvent {
  id: string;
  detailType: string;
  detail: string;
  time: Date;
  resultOmitted: boolean;
}

/**
 * The detail of an owed event: the record as it is now, with the status, upstream status and message of the
 * change it announces; the result only while the record still has that status.
 */
export function prepareEvent(task: TrackedTask, entry: EventEntry): PreparedEvent {
  const sameStatus = task.status === entry.status;
  const detail: TaskEventDetail = {
    eventId: entry.id,
    ...toPublic(task),
    status: entry.status,
    upstreamStatus: entry.upstreamStatus,
    message: entry.message,
    ...(sameStatus ? {} : { result: null, resultTruncated: null }),
  };
  const size = (text: string) =>
    putEventsEntrySize({ Source: EVENT_SOURCE, DetailType: entry.detailType, Detail: text, Time: entry.at });
  let text = stringifyJson(detail);
  let resultOmitted = false;
  if (size(text) > AWS_LIMITS.putEventsBytes) {
    text = stringifyJson({ ...detail, result: null, resultOmitted: true });
    resultOmitted = true;
  }
  return {
    id: entry.id,
    detailType: entry.detailType,
    detail: text,
    time: new Date(entry.at),
    resultOmitted,
  };
}

export type CallbackPayload =
  | { kind: 'success'; output: string; resultOmitted: boolean }
  | { kind: 'failure'; error: (typeof CALLBACK_ERRORS)[keyof typeof CALLBACK_ERRORS]; cause: string };

/** What a finished task's waiting execution gets: the record on success, an error and a cause otherwise. */
export function callbackPayload(task: TrackedTask): CallbackPayload {
  if (task.status === 'succeeded') {
    const record = toPublic(task);
    const output = stringifyJson(record);
    if (utf8Bytes(output) <= AWS_LIMITS.taskOutputBytes)
      return { kind: 'success', output, resultOmitted: false };
    return {
      kind: 'success',
      output: stringifyJson({ ...record, result: null, resultOmitted: true }),
      resultOmitted: true,
    };
  }
  const subject = `${task.identity.provider.toUpperCase()} task ${task.identity.taskId} (tracking id ${task.id})`;
  return {
    kind: 'failure',
    error: CALLBACK_ERRORS[task.status as keyof typeof CALLBACK_ERRORS] ?? CALLBACK_ERRORS.failed,
    cause: clip(
      `${subject} ${task.status}${task.message ? `: ${task.message}` : ''}`,
      AWS_LIMITS.taskCauseChars,
    ),
  };
}

/** At most `max` UTF-16 units, never splitting a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}
