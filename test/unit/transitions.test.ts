import {
  AWS_LIMITS,
  callbackPayload,
  clip,
  EVENT_SOURCE,
  prepareEvent,
  putEventsEntrySize,
} from '../../lib/handover/payloads';
import { parseJson } from '../../lib/json';
import { cutResult, valueSize } from '../../lib/tracking/item-size';
import type { EventEntry, TrackedTask } from '../../lib/tracking/model';
import { lkeIdentity } from '../../lib/tracking/service';
import { expire, failCheck, newTask, strike, type Context } from '../../lib/tracking/transitions';
import { testConfig } from '../helpers/dynamo';

const T0 = Date.parse('2026-11-29T10:00:00.000Z');
const ctx = (now: number): Context => ({ now, schedule: testConfig(), owner: 'poller' });
const task = () => newTask(lkeIdentity({ botBizId: '1', taskType: 'T', taskId: '1' }), ctx(T0));
/** As a poller holds it for its check: a poller's outcome applies only while its lease holds. */
const held = (record: TrackedTask): TrackedTask => ({
  ...record,
  lease: { owner: 'poller', until: new Date(T0 + 3_600_000).toISOString() },
});
const notFound = { code: 'TaskNotFound', message: 'gone' };

describe('strike (giving a task up)', () => {
  it('needs the refusals to span a check interval, however many there were', () => {
    const once = strike(held(task()), notFound, ctx(T0), 2, 'gone for good') as TrackedTask;
    const twiceQuickly = strike(held(once), notFound, ctx(T0 + 1_000), 2, 'gone for good') as TrackedTask;
    expect(twiceQuickly).toMatchObject({ status: 'pending', strikes: { count: 2 } });
    const later = strike(held(twiceQuickly), notFound, ctx(T0 + 60_000), 2, 'gone for good') as TrackedTask;
    expect(later).toMatchObject({ status: 'expired', message: 'gone for good' });
  });

  it('starts counting again when the refusal changes', () => {
    const once = strike(held(task()), notFound, ctx(T0), 2, 'x') as TrackedTask;
    const other = strike(
      held(once),
      { code: 'UpstreamError', message: 'no' },
      ctx(T0 + 60_000),
      2,
      'x',
    ) as TrackedTask;
    expect(other).toMatchObject({ status: 'pending', strikes: { code: 'UpstreamError', count: 1 } });
  });
});

describe("a poller's outcome", () => {
  it('applies only while the poller holds the task: applied again after its lease went, it changes nothing', () => {
    const failure = { code: 'UpstreamUnavailable', message: 'down' };
    const first = strike(held(task()), failure, ctx(T0), 3, 'x') as TrackedTask;
    expect(first).toMatchObject({ attempts: 1, polls: 1, lease: null });
    expect(strike(first, failure, ctx(T0 + 10), 3, 'x')).toBeNull();
    expect(expire(first, 'gave up', ctx(T0 + 10))).toBeNull();
    // An on-demand writer (no owner) is not a poller.
    expect(expire(first, 'gave up', { ...ctx(T0 + 10), owner: undefined })).toMatchObject({
      status: 'expired',
    });
  });
});

describe('hand-over payloads', () => {
  const finished = (result: TrackedTask['result'], status: 'succeeded' | 'failed' = 'succeeded') =>
    ({ ...task(), status, result, message: 'x'.repeat(40_000), version: 3 }) as TrackedTask;
  const entry = (status: EventEntry['status']): EventEntry => ({
    id: 'lke_x.v3.final',
    kind: 'event',
    detailType: 'Task Succeeded',
    status,
    upstreamStatus: 'SUCCESS',
    message: '',
    at: new Date(T0).toISOString(),
    attempts: 0,
    nextAttemptAt: new Date(T0).toISOString(),
  });

  it('builds an event from the record, leaving out a result too large for PutEvents', () => {
    const small = prepareEvent(finished({ cosPath: 'cos://x' }), entry('succeeded'));
    expect(JSON.parse(small.detail)).toMatchObject({
      eventId: 'lke_x.v3.final',
      result: { cosPath: 'cos://x' },
    });
    const big = prepareEvent(finished({ blob: 'y'.repeat(300_000) }), entry('succeeded'));
    expect(big.resultOmitted).toBe(true);
    expect(JSON.parse(big.detail)).toMatchObject({ result: null, resultOmitted: true });
    expect(Buffer.byteLength(big.detail)).toBeLessThan(AWS_LIMITS.putEventsBytes);
  });

  it("says the change it announces, not the record's later status", () => {
    const detail = JSON.parse(prepareEvent(finished({ cosPath: 'c' }), entry('running')).detail);
    expect(detail).toMatchObject({ status: 'running', result: null });
  });

  it('keeps a failure cause within 32,768 characters, never splitting a character', () => {
    const payload = callbackPayload({ ...finished(null, 'failed'), message: '😀'.repeat(20_000) });
    expect(payload.kind).toBe('failure');
    if (payload.kind === 'failure') {
      expect(payload.cause.length).toBeLessThanOrEqual(AWS_LIMITS.taskCauseChars);
      expect(payload.cause).not.toMatch(/[\uD800-\uDBFF]…$/);
    }
    expect(clip('abc', 2)).toBe('a…');
  });

  it('hands over every digit of numbers a double would change, as JSON numbers', () => {
    const text = '[{"status":200,"size":123456789012345678901234567890,"ids":[9007199254740993]}]';
    const record = finished(parseJson(text) as TrackedTask['result']);
    const event = prepareEvent(record, entry('succeeded'));
    expect(event.detail).toContain(`"result":${text}`);
    expect(event.resultOmitted).toBe(false);
    const callback = callbackPayload(record);
    expect(callback).toMatchObject({ kind: 'success', resultOmitted: false });
    expect(callback.kind === 'success' && callback.output).toContain(`"result":${text}`);
    // The limits are checked on the very text sent: n 30-digit numbers that fit as numbers (31 bytes each with
    // the comma) and would not as strings (33 bytes) stay in; one more than fits is left out.
    const numbers = (n: number) =>
      parseJson(
        `[${Array.from({ length: n }, () => '123456789012345678901234567890').join(',')}]`,
      ) as TrackedTask['result'];
    const entrySize = (detail: string) =>
      putEventsEntrySize({ Source: EVENT_SOURCE, DetailType: 'Task Succeeded', Detail: detail, Time: 'set' });
    const room =
      AWS_LIMITS.putEventsBytes - entrySize(prepareEvent(finished([]), entry('succeeded')).detail) + 1;
    const fitting = Math.floor(room / 31);
    expect(fitting * 33).toBeGreaterThan(room);
    const fits = prepareEvent(finished(numbers(fitting)), entry('succeeded'));
    expect(fits.resultOmitted).toBe(false);
    expect(fits.detail).toContain('[123456789012345678901234567890,');
    expect(entrySize(fits.detail)).toBeLessThanOrEqual(AWS_LIMITS.putEventsBytes);
    expect(prepareEvent(finished(numbers(fitting + 1)), entry('succeeded')).resultOmitted).toBe(true);
  });

  it('an expired task fails its waiters with TaskExpired', () => {
    const expired = expire(held(task()), 'gave up', ctx(T0)) as TrackedTask;
    expect(callbackPayload(expired)).toMatchObject({ kind: 'failure', error: 'TaskExpired' });
  });
});

describe('cutResult', () => {
  it('keeps the leading items of an array, and the keys that fit of an object', () => {
    const array = Array.from({ length: 100 }, (_, n) => ({ n, pad: 'p'.repeat(100) }));
    const { result, cut } = cutResult(array, 2_000);
    expect(Array.isArray(result) && result.length).toBe(cut.keptItems);
    expect(cut).toMatchObject({ totalItems: 100, originalBytes: valueSize(array) });
    expect(cut.storedBytes).toBeLessThanOrEqual(2_000);
    const object = cutResult({ a: 'x'.repeat(10), big: 'y'.repeat(5_000), c: 1 }, 1_000);
    expect(object.result).toEqual({ a: 'x'.repeat(10), c: 1 });
    expect(object.cut.droppedKeys).toEqual(['big']);
  });
});

describe('messages cut to their limit', () => {
  it('are cut on a whole character: never half of a surrogate pair (DynamoDB refuses such text)', () => {
    const loneHalf = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    const message = `${'x'.repeat(1022)}😀😀`; // the cut at 1,023 units falls inside the first emoji
    const failed = failCheck(held(task()), { code: 'UpstreamError', message }, ctx(T0)) as TrackedTask;
    expect(failed.lastError?.message).toBe(`${'x'.repeat(1022)}…`);
    expect(loneHalf.test(failed.lastError?.message ?? '')).toBe(false);
  });
});
