import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { backoffMs, PUT_EVENTS_RETRY } from '../backoff';
import { parseJson, stringifyJson } from '../json';
import { silentLog, type Log } from '../log';
import { sleep } from '../retry';
import type { Delivery } from '../tracking/transitions';
import {
  AWS_LIMITS,
  EVENT_SOURCE,
  putEventsEntrySize,
  type CallbackPayload,
  type PreparedEvent,
} from './payloads';

/**
 * Where finished (and changing) tasks are handed over: EventBridge events and Step Functions callbacks. The
 * outbox decides what is owed and lib/handover/payloads.ts what it says; a notifier only carries it and says,
 * per entry, whether it is done, worth another try later, or can never succeed (and why).
 */
export interface Notifier {
  /** Publishes events; answers, per event id, how it went. */
  publish(events: PreparedEvent[], options?: HandoverOptions): Promise<Map<string, Delivery>>;
  callback(taskToken: string, payload: CallbackPayload, options?: HandoverOptions): Promise<Delivery>;
  heartbeat(taskToken: string, options?: HandoverOptions): Promise<Delivery>;
}

/** The caller's time: a hand-over that is still waiting when `signal` aborts stops (its entries are retried). */
export interface HandoverOptions {
  signal?: AbortSignal;
}

/** Step Functions errors that mean the callback can never be accepted: the token is dead, or the payload bad. */
const PERMANENT_SFN_ERRORS = new Set([
  'TaskDoesNotExist',
  'InvalidToken',
  'TaskTimedOut',
  'InvalidOutput',
  'ValidationException',
]);
/** Of those, the ones that only mean the execution stopped waiting (not our failure). */
export const DEAD_TOKEN_ERRORS = new Set(['TaskDoesNotExist', 'InvalidToken', 'TaskTimedOut']);
/** PutEvents entry errors worth another try; any other entry error is permanent. */
const TRANSIENT_ENTRY_ERRORS = new Set(['InternalFailure', 'ThrottlingException']);
const PUT_EVENTS_ROUNDS = 3;

/** A short, non-reversible name for a task token, for log lines (the token itself is a credential). */
export function tokenFingerprint(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

/** Splits entries into PutEvents requests of at most 10 entries and 256 KB. */
export function putEventsBatches<T extends PutEventsRequestEntry>(entries: T[]): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = putEventsEntrySize(entry);
    if (
      batch.length > 0 &&
      (batch.length >= AWS_LIMITS.putEventsEntries || bytes + size > AWS_LIMITS.putEventsBytes)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

interface AwsError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** A request-level AWS error is permanent when AWS says the request itself is wrong (4xx, not throttling). */
function isPermanent(error: AwsError): boolean {
  const status = error.$metadata?.httpStatusCode;
  return (
    status !== undefined &&
    status >= 400 &&
    status < 500 &&
    status !== 429 &&
    !/Throttl|TooManyRequests|LimitExceeded/i.test(error.name ?? '')
  );
}

/** The AWS calls a hand-over makes (lib/handover/aws-api.ts makes them with the SDK); errors are the SDK's. */
export interface HandoverApi {
  /** PutEvents; answers the result entries, in the order of the request's. */
  putEvents(
    entries: PutEventsRequestEntry[],
    options?: HandoverOptions,
  ): Promise<{ EventId?: string; ErrorCode?: string; ErrorMessage?: string }[]>;
  sendTaskSuccess(input: { taskToken: string; output: string }, options?: HandoverOptions): Promise<unknown>;
  sendTaskFailure(
    input: { taskToken: string; error: string; cause: string },
    options?: HandoverOptions,
  ): Promise<unknown>;
  sendTaskHeartbeat(input: { taskToken: string }, options?: HandoverOptions): Promise<unknown>;
}

export interface AwsNotifierDeps {
  api: HandoverApi;
  busName: string;
  log?: Log;
}

export class AwsNotifier implements Notifier {
  private readonly log: Log;
  constructor(private readonly deps: AwsNotifierDeps) {
    this.log = deps.log ?? silentLog;
  }

  async publish(events: PreparedEvent[], options: HandoverOptions = {}): Promise<Map<string, Delivery>> {
    const { signal } = options;
    const results = new Map<string, Delivery>();
    const byId = new Map(events.map((e) => [e.id, e]));
    const toEntry = (event: PreparedEvent): PutEventsRequestEntry => ({
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: event.detail,
      EventBusName: this.deps.busName,
      Time: event.time,
    });
    const batchesOf = (ids: string[]) =>
      putEventsBatches(ids.map((id) => ({ ...toEntry(byId.get(id) as PreparedEvent), id }))).map((batch) =>
        batch.map((entry) => entry.id),
      );
    // Ids to (re)send in batches, and ids of a refused batch to send one per request (to find the bad one).
    let again = events.map((e) => e.id);
    let alone: string[] = [];
    for (let round = 0; round < PUT_EVENTS_ROUNDS && again.length + alone.length > 0; round++) {
      if (round > 0) await sleep(backoffMs(PUT_EVENTS_RETRY, round - 1), signal);
      const requests = [...batchesOf(again), ...alone.map((id) => [id])];
      again = [];
      alone = [];
      for (const request of requests) {
        // Out of the caller's time: what was never sent is left out (not a try: it goes at the next one, its
        // attempts unchanged); what was tried in an earlier round keeps that round's answer.
        if (signal?.aborted) continue;
        const entries = request.map((id) => toEntry(byId.get(id) as PreparedEvent));
        try {
          const answer = await this.deps.api.putEvents(entries, options);
          request.forEach((id, n) => {
            const result = answer[n];
            if (result?.EventId && !result.ErrorCode) results.set(id, { outcome: 'done' });
            else if (result?.ErrorCode && !TRANSIENT_ENTRY_ERRORS.has(result.ErrorCode)) {
              const detail = result.ErrorMessage ? `: ${result.ErrorMessage}` : '';
              const reason = `EventBridge refused the event: ${result.ErrorCode}${detail}`;
              results.set(id, { outcome: 'dead', code: result.ErrorCode, reason });
            } else {
              results.set(id, {
                outcome: 'retry',
                reason: `EventBridge: ${result?.ErrorCode ?? 'no answer'}`,
              });
              again.push(id);
            }
          });
        } catch (caught) {
          const error = caught as AwsError;
          const reason = `PutEvents failed: ${error.name ?? 'Error'}${error.message ? `: ${error.message}` : ''}`;
          if (isPermanent(error) && request.length === 1) {
            results.set(request[0] as string, { outcome: 'dead', code: error.name ?? 'Error', reason });
            continue;
          }
          this.log.warn('PutEvents failed; will retry', { entries: request.length, error: error.name });
          for (const id of request) results.set(id, { outcome: 'retry', reason });
          if (isPermanent(error)) alone.push(...request);
          else again.push(...request);
        }
      }
    }
    return results;
  }

  async callback(
    taskToken: string,
    payload: CallbackPayload,
    options: HandoverOptions = {},
  ): Promise<Delivery> {
    const { api } = this.deps;
    if (payload.kind === 'success') {
      return this.send(
        () => api.sendTaskSuccess({ taskToken, output: payload.output }, options),
        taskToken,
        'SendTaskSuccess',
      );
    }
    const { error, cause } = payload;
    return this.send(
      () => api.sendTaskFailure({ taskToken, error, cause }, options),
      taskToken,
      'SendTaskFailure',
    );
  }

  async heartbeat(taskToken: string, options: HandoverOptions = {}): Promise<Delivery> {
    return this.send(
      () => this.deps.api.sendTaskHeartbeat({ taskToken }, options),
      taskToken,
      'SendTaskHeartbeat',
    );
  }

  private async send(call: () => Promise<unknown>, taskToken: string, action: string): Promise<Delivery> {
    try {
      await call();
      return { outcome: 'done' };
    } catch (caught) {
      const error = caught as AwsError;
      const name = error.name ?? 'Error';
      const reason = `${action} failed: ${name}${error.message ? `: ${error.message}` : ''}`;
      if (PERMANENT_SFN_ERRORS.has(name)) return { outcome: 'dead', code: name, reason };
      this.log.warn('Step Functions call failed; will retry', {
        action,
        token: tokenFingerprint(taskToken),
        error: name,
      });
      return { outcome: 'retry', reason };
    }
  }
}

/**
 * The local sink for `npm start`: every notification becomes a log line and a JSON line in a file (tokens
 * appear only as fingerprints), so a user can watch hand-overs without an AWS account. Details and outputs are
 * read back and written with lib/json.ts, so a number a double does not keep keeps every digit in the file.
 */
export class FileNotifier implements Notifier {
  private readonly log: Log;
  constructor(
    private readonly path: string,
    log?: Log,
  ) {
    this.log = log ?? silentLog;
  }

  async publish(events: PreparedEvent[]): Promise<Map<string, Delivery>> {
    const results = new Map<string, Delivery>();
    for (const event of events) {
      await this.write({
        kind: 'event',
        source: EVENT_SOURCE,
        detailType: event.detailType,
        detail: parseJson(event.detail),
      });
      this.log.info('event (local sink)', {
        eventId: event.id,
        detailType: event.detailType,
        file: this.path,
      });
      results.set(event.id, { outcome: 'done' });
    }
    return results;
  }

  async callback(taskToken: string, payload: CallbackPayload): Promise<Delivery> {
    const record =
      payload.kind === 'success'
        ? { outcome: 'success', output: parseJson(payload.output), resultOmitted: payload.resultOmitted }
        : { outcome: 'failure', error: payload.error, cause: payload.cause };
    await this.write({ kind: 'callback', ...record, token: tokenFingerprint(taskToken) });
    this.log.info('callback (local sink)', { outcome: record.outcome, file: this.path });
    return { outcome: 'done' };
  }

  async heartbeat(taskToken: string): Promise<Delivery> {
    await this.write({ kind: 'heartbeat', token: tokenFingerprint(taskToken) });
    return { outcome: 'done' };
  }

  private async write(record: Record<string, unknown>) {
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${stringifyJson({ at: new Date().toISOString(), ...record })}\n`);
  }
}
