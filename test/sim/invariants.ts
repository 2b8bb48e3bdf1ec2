import type { TrackingConfig } from '../../lib/config';
import { normalizeLkeStatus, normalizeSmhStatus } from '../../lib/task';
import { THROTTLE_PAUSE_MS } from '../../lib/tracking/poller';
import type { AttributeValue, Item } from './engine';
import type { Delivered, Execution, LkeTruth, SmhTruth } from './fakes';
import type { Scenario } from './scenario';
import { idOfTruth } from './world';

/**
 * The rules the tracking core must keep, checked on every table write, every upstream arrival, every hand-over
 * call, every answer, and at the end of a seed (see README "Simulation"):
 *
 * - liveness: once faults stop, every tracked task reaches its true upstream final status (or `expired` by the
 *   documented rules), and its outbox empties (delivered or dead-lettered with a reason);
 * - status: never a status the upstream did not report (but `pending` and `expired` by the rules), never out of a
 *   final status (but `expired` → re-tracked), history in order;
 * - counting: `attempts` and `polls` count only checks made, plus the one a poller holds (`lease.check`);
 *   `lastCheckedAt` is when a check that was made began;
 * - leases: a task given back is due at once (or after a throttling pause), not at a pre-written time;
 * - on-demand reads: a reading answered with a `trackingId` is in the record when the answer leaves;
 * - hand-over: every accepted waiter gets its callback (or a dead letter with a reason), every event goes out at
 *   least once with its stable id, nothing is sent for a status never reached;
 * - quota: at most the limit of LKE calls in any sliding second, per container always, across containers
 *   whenever none of them failed open;
 * - no process death: no unhandled rejection, no untyped error, every invocation answers within its timeout;
 * - fairness (overload, no faults): no task claimed and given back unchecked while another is checked twice.
 */
export interface InvariantDeps {
  scenario: Scenario;
  config: TrackingConfig;
  executions: Map<string, Execution>;
  trace(line: string): void;
  item(id: string): Item | undefined;
}

type Plain = Record<string, unknown>;
interface Record_ {
  status: string;
  attempts: number;
  polls: number;
  lastCheckedAt: string | null;
  nextCheckAt: string | null;
  trackedAt: string;
  finishedAt: string | null;
  history: { status: string; at: string }[];
  lease: { owner: string; until: string; check?: { at: string; lastCheckedAt: string | null } } | null;
  outbox: { id: string; kind: string; status?: string; taskToken?: string }[];
  undelivered: { id: string; code: string; reason: string }[];
  result: unknown;
  resultTruncated: unknown;
  lastError: { code: string; message: string } | null;
}

const FINAL = new Set(['succeeded', 'failed', 'expired', 'untracked']);
/** Longer than an untrackTask invocation (10 s) and a request's slowest trip: by then it landed or never will. */
const UNTRACK_SETTLED_MS = 30_000;
/** Ended by us, not upstream: tracking again reopens them. */
const REOPENABLE = new Set(['expired', 'untracked']);
const RANK: Record<string, number> = {
  pending: 0,
  running: 1,
  succeeded: 2,
  failed: 2,
  expired: 2,
  untracked: 2,
};

export class Invariants {
  readonly violations: string[] = [];
  readonly stats = { checks: 0, writes: 0, deliveries: 0, callbacks: 0, arrivals: 0 };
  private readonly keyById = new Map<string, string>();
  private readonly idByKey = new Map<string, string>();
  private readonly truths = new Map<string, LkeTruth | SmhTruth>();
  private readonly reportedStatuses = new Map<string, Set<string>>();
  /**
   * Tasks a user asked to stop tracking, and when (the request may apply even when its answer was lost, and land
   * up to its timeout later); a task tracked again, successfully, well after that, is tracked again.
   */
  private readonly untrackedAsked = new Map<string, number>();
  /** When an upstream answered a task as not found, per task. */
  private readonly refusals = new Map<string, number[]>();
  private readonly checksMade = new Map<
    string,
    { all: number; poller: number; readings: string[]; pollerAt: number[] }
  >();
  private readonly everTracked = new Set<string>();
  /** Callbacks taken back when their task was tracked again (its executions wait again). */
  private readonly withdrawn = new Set<string>();
  private readonly entries = new Map<
    string,
    { trackingId: string; kind: string; status?: string; token?: string; at: number }
  >();
  private readonly deadLetters = new Map<string, string>();
  private readonly deliveredIds = new Map<string, Set<string>>();
  private readonly arrivals: { at: number; caller: string }[] = [];
  private readonly failOpens: number[] = [];
  private readonly givenBack: { id: string; at: number; claimedAt: number }[] = [];

  constructor(private readonly deps: InvariantDeps) {
    for (const truth of [...deps.scenario.lke.values(), ...deps.scenario.smh.values()]) {
      const id = idOfTruth(truth);
      this.keyById.set(id, truth.key);
      this.idByKey.set(truth.key, id);
      this.truths.set(truth.key, truth);
    }
  }

  violation(rule: string, detail: string): void {
    const line = `VIOLATION [${rule}] ${detail}`;
    if (this.violations.length < 50) this.violations.push(`${new Date(Date.now()).toISOString()} ${line}`);
    this.deps.trace(line);
  }

  idOf(key: string): string {
    return this.idByKey.get(key) as string;
  }

  isTracked(key: string): boolean {
    return this.everTracked.has(key) || this.deps.item(this.idOf(key)) !== undefined;
  }

  untrackAsked(key: string): void {
    this.untrackedAsked.set(key, Date.now());
  }

  tracked(key: string): void {
    // Tracked again after every untrack request had ended (they time out within 10 s): it must be checked again.
    const asked = this.untrackedAsked.get(key);
    if (asked !== undefined && Date.now() - asked > UNTRACK_SETTLED_MS) this.untrackedAsked.delete(key);
    this.everTracked.add(key);
  }

  // ---- what the upstreams said -------------------------------------------------------------------------------

  reported(key: string, answer: unknown): void {
    const value = answer as { Status?: string; status?: number };
    const status =
      value.Status !== undefined
        ? normalizeLkeStatus(value.Status)
        : normalizeSmhStatus(value.status as number).status;
    const set = this.reportedStatuses.get(key) ?? new Set<string>();
    set.add(status);
    this.reportedStatuses.set(key, set);
  }

  refused(key: string): void {
    this.refusals.set(key, [...(this.refusals.get(key) ?? []), Date.now()]);
  }

  /** A check ended (an upstream query returned or threw), with the reading's time when it read a status. */
  checked(key: string, byPoller: boolean, readingAt?: string): void {
    this.stats.checks++;
    const made = this.checksMade.get(key) ?? { all: 0, poller: 0, readings: [], pollerAt: [] };
    made.all++;
    if (byPoller) {
      made.poller++;
      made.pollerAt.push(Date.now());
    }
    if (readingAt) made.readings.push(readingAt);
    this.checksMade.set(key, made);
  }

  // ---- quota -------------------------------------------------------------------------------------------------

  arrived(caller: string, at: number): void {
    this.stats.arrivals++;
    const limit = this.deps.scenario.lkeRate;
    this.arrivals.push({ at, caller });
    while ((this.arrivals[0] as { at: number }).at <= at - 1000) this.arrivals.shift();
    const mine = this.arrivals.filter((a) => a.caller === caller).length;
    if (mine > limit)
      this.violation('quota', `${caller} sent ${mine} LKE calls within one second (limit ${limit})`);
    // Calls that failed open together leave their container at most `limit` a second (RateLimiter.admit): up to
    // the LKE checker's 20 calls in flight, 20 / limit seconds after the table failed them.
    const openedRecently = this.failOpens.some((t) => t > at - 3_000 - (20 / limit) * 1000);
    if (this.arrivals.length > limit && !openedRecently)
      this.violation(
        'quota',
        `${this.arrivals.length} LKE calls within one second across containers (limit ${limit})`,
      );
  }

  failedOpen(caller: string, at: number): void {
    this.failOpens.push(at);
    this.deps.trace(`  ${caller} failed open (the shared quota's table did not answer)`);
  }

  // ---- the table ---------------------------------------------------------------------------------------------

  written(id: string, beforeItem: Item | undefined, afterItem: Item | undefined): void {
    if (!/^(lke|smh)_/.test(id)) return;
    this.stats.writes++;
    const key = this.keyById.get(id);
    if (!key) return this.violation('status', `a record ${id} for no task of the scenario`);
    if (!afterItem) return;
    const before = beforeItem ? (plain({ M: beforeItem }) as Record_) : undefined;
    const after = plain({ M: afterItem }) as Record_;
    const now = Date.now();
    const label = `${id} (${key})`;
    const lease = after.lease ? ` lease ${after.lease.owner}${after.lease.check ? '+check' : ''}` : '';
    this.deps.trace(
      `  write ${id} v${String((after as unknown as Plain).version)} ${after.status} attempts ${after.attempts} polls ${after.polls} ` +
        `next ${after.nextCheckAt?.slice(11, 23) ?? '-'}${lease}${after.outbox.length ? ` outbox ${after.outbox.length}` : ''}`,
    );

    // Status: reported, or pending, or expired by the rules; never out of a final status; history in order.
    const reported = this.reportedStatuses.get(key) ?? new Set<string>();
    if (!['pending', 'expired', 'untracked'].includes(after.status) && !reported.has(after.status))
      this.violation('status', `${label} stored as ${after.status}, which its upstream never reported`);
    if (after.status === 'untracked' && before?.status !== 'untracked' && !this.untrackedAsked.has(key))
      this.violation('status', `${label} untracked, which nobody asked for`);
    if (after.status === 'untracked' && before?.status === 'untracked' && after.attempts !== before.attempts)
      this.violation('status', `${label} checked while untracked`);
    if (after.status === 'expired' && before?.status !== 'expired' && !this.mayExpire(key, after, now))
      this.violation(
        'status',
        `${label} expired although the upstream knew it and its max age had not passed`,
      );
    if (
      before &&
      FINAL.has(before.status) &&
      !REOPENABLE.has(before.status) &&
      after.status !== before.status
    )
      this.violation('status', `${label} left its final status ${before.status} for ${after.status}`);
    for (let n = 1; n < after.history.length; n++) {
      const [a, b] = [after.history[n - 1], after.history[n]] as [Plain, Plain];
      if (String(b.at) < String(a.at) || a.status === b.status)
        this.violation('status', `${label} history out of order: ${JSON.stringify(after.history)}`);
    }

    // Counting.
    const made = this.checksMade.get(key) ?? { all: 0, poller: 0, readings: [], pollerAt: [] };
    const inFlight = after.lease?.check ? 1 : 0;
    if (after.attempts > made.all + inFlight)
      this.violation(
        'counting',
        `${label} counts ${after.attempts} attempts, ${made.all} checks were made${inFlight ? ' (+1 in flight)' : ''}`,
      );
    if (after.polls > made.poller + inFlight)
      this.violation(
        'counting',
        `${label} counts ${after.polls} polls, pollers made ${made.poller} checks${inFlight ? ' (+1 in flight)' : ''}`,
      );

    // Leases: a claim ended with no poller check since it (given back, or throttled) counts nothing and is due at
    // once (after the pause), not at its pre-written time.
    const claimedAt = before?.lease?.check ? Date.parse(before.lease.check.at) : NaN;
    if (
      before?.lease?.check &&
      !after.lease &&
      after.status === before.status &&
      !made.pollerAt.some((at) => at >= claimedAt) &&
      after.nextCheckAt !== null
    ) {
      // An on-demand reading (track=true) since the claim may be stored in the same write: one more attempt.
      const readSince = made.readings.some((at) => Date.parse(at) >= claimedAt);
      const attemptsOk =
        after.attempts === before.attempts - 1 || (readSince && after.attempts === before.attempts);
      if (!attemptsOk || after.polls !== before.polls - 1)
        this.violation(
          'counting',
          `${label} given back unchecked, yet counts ${after.attempts} attempts and ${after.polls} polls (claimed with ${before.attempts} and ${before.polls})`,
        );
      const due = Date.parse(after.nextCheckAt);
      if (due > now + THROTTLE_PAUSE_MS + 10)
        this.violation('leases', `${label} given back but due only in ${Math.round((due - now) / 1000)} s`);
      this.givenBack.push({ id, at: now, claimedAt: Date.parse(before.lease.check.at) });
      this.deps.trace(
        `  given back unchecked: ${id} (claimed by ${before.lease.owner} at ${before.lease.check.at.slice(11, 23)})`,
      );
    }

    // Hand-over: tracking an expired or untracked task again takes back the callbacks not made yet, and their
    // executions wait again (the record's waiters), or get the callback of the status it now ends in (a final
    // reading reopens and finishes it in one write): those callbacks are withdrawn, not owed.
    if (before && REOPENABLE.has(before.status) && after.status !== before.status) {
      const kept = new Set(after.outbox.map((e) => e.id));
      const waiting = new Set([
        ...((after as unknown as { notify?: { taskTokens?: string[] } }).notify?.taskTokens ?? []),
        ...after.outbox.filter((e) => e.kind === 'callback').map((e) => e.taskToken),
      ]);
      for (const entry of before.outbox) {
        if (entry.kind !== 'callback' || kept.has(entry.id)) continue;
        if (!entry.taskToken || !waiting.has(entry.taskToken))
          this.violation(
            'hand-over',
            `${label} took back callback ${entry.id}, and its execution no longer waits`,
          );
        this.withdrawn.add(entry.id);
      }
    }

    // Hand-over: every entry queued is registered; it announces a status the record reached.
    const known = new Set(before?.outbox.map((e) => e.id) ?? []);
    for (const entry of after.outbox) {
      if (known.has(entry.id) || this.entries.has(entry.id)) continue;
      this.entries.set(entry.id, {
        trackingId: id,
        kind: entry.kind,
        status: entry.status,
        token: entry.taskToken,
        at: now,
      });
      const reached = new Set([after.status, ...after.history.map((h) => h.status)]);
      if (entry.kind === 'event' && entry.status && !reached.has(entry.status))
        this.violation('hand-over', `${label} queued an event for ${entry.status}, never reached`);
      if (entry.kind === 'callback' && !FINAL.has(after.status))
        this.violation('hand-over', `${label} queued a callback while ${after.status}`);
    }
    for (const letter of after.undelivered) {
      if (this.deadLetters.has(letter.id)) continue;
      if (!letter.reason) this.violation('hand-over', `${label} dead-lettered ${letter.id} without a reason`);
      this.deadLetters.set(letter.id, `${letter.code}: ${letter.reason}`);
      this.deps.trace(`  dead letter ${letter.id}: ${letter.code}`);
    }
  }

  /**
   * A task the upstream knows may end `expired` past its max age, or once it was answered as not found twice, the
   * first time at least the base interval ago (transitions `strike`: a single not-found, as a transient fault
   * gives, never ends it).
   */
  private mayExpire(key: string, record: Record_, now: number): boolean {
    const maxAgeMs = this.deps.config.maxAgeDays * 86_400_000;
    const refusals = this.refusals.get(key) ?? [];
    const spanned =
      refusals.length >= 2 && now - (refusals[0] as number) >= this.deps.config.baseIntervalSeconds * 1000;
    return spanned || now - Date.parse(record.trackedAt) > maxAgeMs;
  }

  // ---- answers and hand-overs --------------------------------------------------------------------------------

  /** An on-demand answer: a reading with a trackingId must be in the record when the answer leaves. */
  answered(key: string, answer: Plain): void {
    if (typeof answer.trackingId !== 'string') return;
    this.everTracked.add(key);
    const item = this.deps.item(answer.trackingId);
    if (!item)
      return this.violation(
        'on-demand reads',
        `${key} answered with trackingId ${answer.trackingId}, no such record`,
      );
    const record = plain({ M: item }) as Record_;
    const status = String(answer.status);
    const at = String(answer.checkedAt);
    if (FINAL.has(status)) {
      if (record.status !== status)
        this.violation(
          'on-demand reads',
          `${key}: a ${status} reading was answered as tracked, the record says ${record.status}`,
        );
      return;
    }
    const confirmed = record.lease?.check ? record.lease.check.lastCheckedAt : record.lastCheckedAt;
    const reflected =
      record.status === status ||
      (RANK[record.status] ?? 0) > (RANK[status] ?? 0) ||
      (confirmed !== null && confirmed >= at);
    if (!reflected)
      this.violation(
        'on-demand reads',
        `${key}: a ${status} reading (${at}) was answered as tracked, the record says ${record.status}`,
      );
  }

  delivered(event: Delivered): void {
    this.stats.deliveries++;
    const entry = this.entries.get(event.eventId);
    if (!entry)
      return this.violation('hand-over', `event ${event.eventId} has no outbox entry (unstable id?)`);
    if (entry.status !== event.status)
      this.violation(
        'hand-over',
        `event ${event.eventId} says ${event.status}, its entry announced ${entry.status}`,
      );
    const seen = this.deliveredIds.get(event.eventId) ?? new Set<string>();
    seen.add(event.status);
    this.deliveredIds.set(event.eventId, seen);
  }

  calledBack(execution: Execution, kind: 'success' | 'failure', payload: { error?: string }): void {
    this.stats.callbacks++;
    const item = this.deps.item(execution.trackingId);
    const status = item ? (plain({ M: item }) as Record_).status : 'absent';
    const expected =
      status === 'succeeded'
        ? 'success'
        : status === 'failed'
          ? 'TaskFailed'
          : status === 'expired'
            ? 'TaskExpired'
            : status === 'untracked'
              ? 'TaskUntracked'
              : 'none';
    const got = kind === 'success' ? 'success' : payload.error;
    if (got !== expected)
      this.violation('hand-over', `callback ${got} for a task ${status} (${execution.trackingId})`);
  }

  // ---- the end -----------------------------------------------------------------------------------------------

  final(items: Map<string, Item>): void {
    const { scenario, config } = this.deps;
    const { settleBy } = scenario;
    for (const [key, truth] of this.truths) {
      const id = this.idOf(key);
      const item = items.get(id);
      if (!item) {
        if (this.everTracked.has(key)) this.violation('liveness', `${key} was tracked but has no record`);
        continue;
      }
      const record = plain({ M: item }) as Record_;
      const label = `${id} (${key})`;
      const final = finalOf(truth);
      const maxAgeMs = config.maxAgeDays * 86_400_000;
      const trackedAt = Date.parse(record.trackedAt);
      let expected: string[];
      if (!truth.known) expected = ['expired'];
      else if (final && final.at <= settleBy) expected = [final.status];
      else expected = final ? [final.status, 'pending', 'running'] : ['pending', 'running'];
      // Past its max age a task is checked once more before it is given up: it may end expired only if the
      // upstream had not finished by that last check (its reading is at most a minute older than the write).
      const givenUpAt = record.finishedAt ? Date.parse(record.finishedAt) : trackedAt + maxAgeMs;
      if (truth.known && (final?.at ?? Infinity) > Math.max(givenUpAt, trackedAt + maxAgeMs) - 60_000)
        expected.push('expired');
      // And it is given up: past its max age, with time for its last check after the faults and before the polls
      // stop (at the world's end; a poll a minute), it has ended.
      const endBy = Math.max(trackedAt + maxAgeMs, settleBy) + 4 * config.maxIntervalSeconds * 1000 + 120_000;
      if (truth.known && endBy < scenario.end)
        expected = [...new Set([...expected.filter((s) => s !== 'pending' && s !== 'running'), 'expired'])];
      if (this.untrackedAsked.has(key)) expected.push('untracked');
      if (!expected.includes(record.status))
        this.violation('liveness', `${label} ended ${record.status}, expected ${expected.join(' or ')}`);
      if (
        record.outbox.some((e) => (this.entries.get(e.id)?.at ?? 0) <= settleBy) &&
        FINAL.has(record.status)
      )
        this.violation('liveness', `${label} still owes ${record.outbox.map((e) => e.id).join(', ')}`);
      if (FINAL.has(record.status) && record.lease)
        this.violation('leases', `${label} is ${record.status} and still leased to ${record.lease.owner}`);
      if (record.status === 'succeeded' && 'libraryId' in truth) this.checkResult(label, truth, record, item);

      const made = this.checksMade.get(key) ?? { all: 0, poller: 0, readings: [], pollerAt: [] };
      const inFlight = record.lease?.check ? 1 : 0;
      if (record.attempts > made.all + inFlight)
        this.violation(
          'counting',
          `${label} ends with ${record.attempts} attempts, ${made.all} checks were made`,
        );
      if (record.lastCheckedAt !== null) {
        const read = made.readings.some((at) => at >= (record.lastCheckedAt as string));
        const held = record.lease?.check?.at === record.lastCheckedAt;
        if (!read && !held)
          this.violation('counting', `${label} lastCheckedAt ${record.lastCheckedAt}: no check made since`);
      }
    }
    // Every queued notification was delivered, or dead-lettered with a reason.
    for (const [entryId, entry] of this.entries) {
      if (this.deadLetters.has(entryId) || entry.at > settleBy) continue; // queued too late to be owed yet
      const record = items.get(entry.trackingId);
      const stillOwed = record && (plain({ M: record }) as Record_).outbox.some((e) => e.id === entryId);
      if (entry.kind === 'event' && !this.deliveredIds.has(entryId))
        this.violation(
          'hand-over',
          `event ${entryId} was never delivered${stillOwed ? ' (still owed)' : ''}`,
        );
      if (entry.kind === 'callback' && !this.withdrawn.has(entryId)) {
        const execution = entry.token ? this.deps.executions.get(entry.token) : undefined;
        if (!execution || execution.callbacks.length === 0)
          this.violation(
            'hand-over',
            `callback ${entryId} was never made${stillOwed ? ' (still owed)' : ''}`,
          );
      }
    }
    // Every accepted waiter on a finished task got its callback (or its refusal is on the record).
    for (const execution of this.deps.executions.values()) {
      const item = items.get(execution.trackingId);
      const status = item ? (plain({ M: item }) as Record_).status : undefined;
      // An execution stopped by its owner no longer waits: Step Functions refuses its callback or heartbeat.
      if (!status || !FINAL.has(status) || execution.callbacks.length > 0 || execution.stopped) continue;
      if (!execution.accepted) continue; // its track request failed: the caller was never told it waits
      this.violation(
        'hand-over',
        `the execution waiting on ${execution.trackingId} (${status}) got no callback`,
      );
    }
    this.checkFairness();
  }

  private checkResult(label: string, truth: SmhTruth, record: Record_, item: Item) {
    const final = truth.timeline.at(-1);
    if (!final || final.result === 'null') return;
    const unstorable = /\d{39,}/.test(final.result);
    if (unstorable) {
      if (record.result !== null || (!record.resultTruncated && !record.lastError))
        this.violation(
          'liveness',
          `${label}: a result DynamoDB cannot store should be left out with a note why`,
        );
      return;
    }
    const stored = rawJson(item.result as AttributeValue);
    if (canonical(stored) !== canonical(final.result))
      this.violation(
        'liveness',
        `${label}: result stored as ${stored.slice(0, 200)}, SMH sent ${final.result.slice(0, 200)}`,
      );
  }

  /**
   * Overload without faults (pollers started together each minute): no task claimed and given back unchecked
   * while another task was checked twice in the same cycle (the minute of the schedule it was given back in,
   * or since it was claimed).
   */
  private checkFairness() {
    const { scenario } = this.deps;
    if (scenario.family !== 'overload') return;
    const cycle = (at: number) => Math.floor((at - scenario.start) / 60_000);
    const at = (ms: number) => new Date(ms).toISOString().slice(11, 23);
    for (const back of this.givenBack) {
      for (const [key, made] of this.checksMade) {
        const inCycle = made.pollerAt.filter(
          (t) => cycle(t) === cycle(back.at) || (t >= back.claimedAt && t <= back.at),
        );
        if (inCycle.length >= 2) {
          this.violation(
            'fairness',
            `${back.id} was claimed at ${at(back.claimedAt)} and given back unchecked at ${at(back.at)}, while ${key} was checked ${inCycle.length} times in that cycle`,
          );
          return;
        }
      }
    }
  }
}

function finalOf(truth: LkeTruth | SmhTruth): { at: number; status: string } | undefined {
  const last = truth.timeline.at(-1);
  if (!last) return undefined;
  const status =
    'botBizId' in truth
      ? normalizeLkeStatus((last as { status: string }).status)
      : normalizeSmhStatus((last as { status: number }).status).status;
  return FINAL.has(status) ? { at: last.at, status } : undefined;
}

/** An attribute value as plain data (numbers as JS numbers: for the rules, not for results). */
export function plain(value: AttributeValue): unknown {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  if ('BOOL' in value) return value.BOOL;
  if ('NULL' in value) return null;
  if ('L' in value) return value.L.map(plain);
  if ('M' in value) return Object.fromEntries(Object.entries(value.M).map(([k, v]) => [k, plain(v)]));
  return null;
}

/** An attribute value as JSON text, numbers digit for digit. */
export function rawJson(value: AttributeValue): string {
  if ('S' in value) return JSON.stringify(value.S);
  if ('N' in value) return value.N;
  if ('BOOL' in value) return String(value.BOOL);
  if ('NULL' in value) return 'null';
  if ('L' in value) return `[${value.L.map(rawJson).join(',')}]`;
  if ('M' in value)
    return `{${Object.entries(value.M)
      .map(([k, v]) => `${JSON.stringify(k)}:${rawJson(v)}`)
      .join(',')}}`;
  return 'null';
}

/** JSON text in one form: object keys sorted, numbers as written, no spaces. */
export function canonical(text: string): string {
  let at = 0;
  const ws = () => {
    while (/\s/.test(text[at] ?? '')) at++;
  };
  const value = (): string => {
    ws();
    const c = text[at];
    if (c === '{') {
      at++;
      const members: [string, string][] = [];
      ws();
      if (text[at] === '}') {
        at++;
        return '{}';
      }
      for (;;) {
        ws();
        const key = str();
        ws();
        at++; // :
        members.push([key, value()]);
        ws();
        if (text[at++] === '}') break;
      }
      members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${members.map(([k, v]) => `${k}:${v}`).join(',')}}`;
    }
    if (c === '[') {
      at++;
      const items: string[] = [];
      ws();
      if (text[at] === ']') {
        at++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[at++] === ']') break;
      }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return str();
    const token = /^(true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(at))?.[0] ?? '';
    at += token.length;
    return token;
  };
  const str = () => {
    const start = at;
    at++;
    while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    at++;
    return JSON.stringify(JSON.parse(text.slice(start, at)));
  };
  return value();
}
