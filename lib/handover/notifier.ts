import {
  PutEventsCommand,
  type EventBridgeClient,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { silentLog, type Log } from '../log';
import { sleep } from '../retry';
import type { CallbackEntry, EventEntry } from '../tracking/model';

/**
 * Where finished (and changing) tasks are handed over: EventBridge events and Step Functions callbacks. The
 * outbox decides what is owed; a notifier only says, per entry, whether it is done.
 */
export type CallbackOutcome = 'delivered' | 'dropped' | 'retry';

export interface Notifier {
  /** Publishes events; answers the ids EventBridge accepted (the rest stay in the outbox). */
  publish(events: EventEntry[]): Promise<Set<string>>;
  /** Sends a callback; `dropped` when the token is invalid or its task timed out (never retried). */
  callback(entry: CallbackEntry): Promise<CallbackOutcome>;
  heartbeat(taskToken: string): Promise<CallbackOutcome>;
}

export const EVENT_SOURCE = 'tencent-task-tracker';
/** Step Functions errors that mean the token will never be accepted: log and drop. */
const DEAD_TOKEN_ERRORS = new Set(['TaskDoesNotExist', 'InvalidToken', 'TaskTimedOut']);
const PUT_EVENTS_BATCH = 10;
const PUT_EVENTS_ROUNDS = 3;

/** A short, non-reversible name for a task token, for log lines (the token itself is a credential). */
export function tokenFingerprint(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

export function eventDetail(entry: EventEntry): string {
  return JSON.stringify({ eventId: entry.id, ...entry.detail });
}

export interface AwsNotifierDeps {
  eventBridge: () => EventBridgeClient;
  sfn: () => SFNClient;
  busName: string;
  log?: Log;
}

export class AwsNotifier implements Notifier {
  private readonly log: Log;
  constructor(private readonly deps: AwsNotifierDeps) {
    this.log = deps.log ?? silentLog;
  }

  async publish(events: EventEntry[]): Promise<Set<string>> {
    const accepted = new Set<string>();
    let pending = events;
    for (let round = 0; round < PUT_EVENTS_ROUNDS && pending.length > 0; round++) {
      if (round > 0) await sleep(100 * 2 ** round);
      const failed: EventEntry[] = [];
      for (let i = 0; i < pending.length; i += PUT_EVENTS_BATCH) {
        const batch = pending.slice(i, i + PUT_EVENTS_BATCH);
        const entries: PutEventsRequestEntry[] = batch.map((entry) => ({
          Source: EVENT_SOURCE,
          DetailType: entry.detailType,
          Detail: eventDetail(entry),
          EventBusName: this.deps.busName,
          Time: new Date(entry.at),
        }));
        try {
          const answer = await this.deps.eventBridge().send(new PutEventsCommand({ Entries: entries }));
          batch.forEach((entry, n) => {
            const result = answer.Entries?.[n];
            if (result?.EventId && !result.ErrorCode) accepted.add(entry.id);
            else failed.push(entry);
          });
        } catch (error) {
          this.log.warn('PutEvents failed; will retry', {
            entries: batch.length,
            error: (error as Error).name,
          });
          failed.push(...batch);
        }
      }
      pending = failed;
    }
    if (pending.length > 0) {
      this.log.warn('events left in the outbox for the next sweep', { eventIds: pending.map((e) => e.id) });
    }
    return accepted;
  }

  async callback(entry: CallbackEntry): Promise<CallbackOutcome> {
    const { taskToken } = entry;
    if (entry.outcome === 'success') {
      const output = JSON.stringify(entry.output ?? {});
      return this.send((sfn) => sfn.send(new SendTaskSuccessCommand({ taskToken, output })), taskToken, {
        action: 'SendTaskSuccess',
        entryId: entry.id,
      });
    }
    const failure = { taskToken, error: entry.error, cause: entry.cause };
    return this.send((sfn) => sfn.send(new SendTaskFailureCommand(failure)), taskToken, {
      action: 'SendTaskFailure',
      entryId: entry.id,
    });
  }

  async heartbeat(taskToken: string): Promise<CallbackOutcome> {
    return this.send((sfn) => sfn.send(new SendTaskHeartbeatCommand({ taskToken })), taskToken, {
      action: 'SendTaskHeartbeat',
    });
  }

  private async send(
    call: (sfn: SFNClient) => Promise<unknown>,
    taskToken: string,
    facts: { action: string; entryId?: string },
  ): Promise<CallbackOutcome> {
    const logged = { ...facts, token: tokenFingerprint(taskToken) };
    try {
      await call(this.deps.sfn());
      return 'delivered';
    } catch (error) {
      const name = (error as Error).name;
      if (DEAD_TOKEN_ERRORS.has(name)) {
        this.log.warn('Step Functions no longer accepts this task token; dropping it', {
          ...logged,
          error: name,
        });
        return 'dropped';
      }
      this.log.warn('Step Functions call failed; will retry', { ...logged, error: name });
      return 'retry';
    }
  }
}

/**
 * The local sink for `npm start`: every notification becomes a log line and a JSON line in a file (tokens
 * appear only as fingerprints), so a user can watch hand-overs without an AWS account.
 */
export class FileNotifier implements Notifier {
  private readonly log: Log;
  constructor(
    private readonly path: string,
    log?: Log,
  ) {
    this.log = log ?? silentLog;
  }

  async publish(events: EventEntry[]): Promise<Set<string>> {
    for (const entry of events) {
      await this.write({
        kind: 'event',
        source: EVENT_SOURCE,
        detailType: entry.detailType,
        detail: JSON.parse(eventDetail(entry)),
      });
      this.log.info('event (local sink)', {
        eventId: entry.id,
        detailType: entry.detailType,
        file: this.path,
      });
    }
    return new Set(events.map((e) => e.id));
  }

  async callback(entry: CallbackEntry): Promise<CallbackOutcome> {
    const { taskToken, ...rest } = entry;
    await this.write({ ...rest, token: tokenFingerprint(taskToken) });
    this.log.info('callback (local sink)', { entryId: entry.id, outcome: entry.outcome, file: this.path });
    return 'delivered';
  }

  async heartbeat(taskToken: string): Promise<CallbackOutcome> {
    await this.write({ kind: 'heartbeat', token: tokenFingerprint(taskToken) });
    return 'delivered';
  }

  private async write(record: Record<string, unknown>) {
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${JSON.stringify({ at: new Date().toISOString(), ...record })}\n`);
  }
}
