import type { LkeRates, LkeTruth, Rates, SmhLibrary, SmhRates, SmhTruth } from './fakes';
import { NO_FAULTS, smhKey } from './fakes';
import { Rng } from './rng';

/**
 * One seed's world: the tasks upstream and how they end, what the users do and when, the deployment's settings,
 * and the faults. Families weigh the draw: `mixed` (some of everything), `crashy` (processes die often),
 * `storm` (the table and AWS fail a lot), `overload` (more due LKE tasks than the quota can check, no faults:
 * fairness), `quota` (LKE pollers and on-demand bursts sharing the quota while the table loses answers),
 * `calm` (no faults at all).
 */
export type Family = 'mixed' | 'crashy' | 'storm' | 'overload' | 'quota' | 'calm';
export const FAMILIES: readonly Family[] = [
  'quota',
  'mixed',
  'mixed',
  'mixed',
  'mixed',
  'crashy',
  'crashy',
  'storm',
  'overload',
  'calm',
];

export type Action =
  | { kind: 'poll'; provider: 'lke' | 'smh' }
  | { kind: 'track'; task: string; notify?: { token: string; heartbeat: boolean } }
  | { kind: 'read'; task: string; track: boolean }
  | { kind: 'stop-execution'; token: string }
  | { kind: 'untrack'; task: string }
  | { kind: 'retrack-all' };

export interface Scenario {
  seed: number;
  family: Family;
  start: number;
  /** Faults (and crashes) happen before this time only. */
  faultsUntil: number;
  end: number;
  /** A task that finished upstream by then must have its final status when the seed ends (liveness). */
  settleBy: number;
  env: Record<string, string>;
  lkeRate: number;
  pollTimeoutMs: number;
  lke: Map<string, LkeTruth>;
  smh: Map<string, SmhTruth>;
  libraries: Map<string, SmhLibrary>;
  actions: { at: number; action: Action }[];
  tableRates: Rates;
  lkeRates: LkeRates;
  smhRates: SmhRates;
  awsRates: Rates & { partial: number };
  indexLagMs: [number, number];
}

const START = Date.UTC(2026, 0, 1);
const MIN = 60_000;
const RATE_STEPS = [0, 0, 0.005, 0.02, 0.05];

export function scenario(seed: number, family?: Family): Scenario {
  const r = new Rng(seed, 1);
  const kind = family ?? r.pick(FAMILIES);
  const faulty = kind !== 'calm' && kind !== 'overload';
  const rate = (scale = 1) => (faulty ? r.pick(RATE_STEPS) * scale : 0);
  const storm = kind === 'storm' ? 6 : 1;
  const quota = kind === 'quota';
  // A process dies at a call to anything: the table, an upstream, AWS.
  const crash = kind === 'crashy' ? r.pick([0.005, 0.01, 0.02]) : rate(0.2);
  const tableRates: Rates = quota
    ? {
        fail: r.pick([0, 0.02]),
        lose: r.pick([0.05, 0.1, 0.2]),
        throttle: 0.02,
        slow: r.pick([0, 0.02]),
        lag: r.pick([0, 0.05]),
        crash: 0,
      }
    : {
        fail: rate(storm),
        lose: rate(storm),
        throttle: rate(storm),
        slow: rate(storm / 2),
        lag: rate(storm),
        crash,
      };
  const awsRates = quota
    ? { fail: 0, lose: 0, throttle: 0, slow: 0, lag: 0, crash: 0, partial: 0 }
    : {
        fail: rate(storm),
        lose: rate(storm),
        throttle: rate(storm),
        slow: rate(storm / 2),
        lag: rate(storm),
        crash,
        partial: rate(storm),
      };
  // Under `quota`, Tencent never throttles but for the quota itself: a breach shows as what it is.
  const lkeRates: LkeRates = quota
    ? { throttle: 0, error: 0, cut: 0, slow: 0, lag: 0, crash: 0, missing: 0 }
    : {
        throttle: rate(),
        error: rate(),
        cut: rate(),
        slow: rate(0.5),
        lag: rate(storm),
        crash,
        missing: rate(0.5),
      };
  const smhRates: SmhRates = {
    throttle: rate(),
    error: rate(),
    cut: rate(),
    slow: rate(0.5),
    tokenRefused: rate(),
    lag: rate(storm),
    crash,
    missing: rate(0.5),
  };

  const faultsUntil = START + r.int(6, 14) * MIN;
  const end = kind === 'overload' ? START + 6 * MIN : faultsUntil + (quota ? 12 : 45) * MIN;
  // Time enough for the slowest backoff (a check at most 3 minutes apart, an owed notification retried after at
  // most 15), or, under `quota` (no hand-over faults, checks at most 30 s apart), a few minutes.
  const settleBy = end - (quota ? 8 : 25) * MIN;
  const overload = kind === 'overload';
  const lkeRate = overload || quota ? 5 : 20;
  const base = overload ? r.int(15, 20) : quota ? r.int(10, 15) : r.int(10, 30);
  const env: Record<string, string> = {
    TABLE_NAME: 'sim-tasks',
    POLL_FIRST_DELAY_SECONDS: String(r.pick([0, 0, 5, 15])),
    POLL_BASE_INTERVAL_SECONDS: String(base),
    POLL_BACKOFF_FACTOR: '2',
    POLL_MAX_INTERVAL_SECONDS: String(overload || quota ? base * 2 : r.pick([60, 120, 180])),
    POLL_MAX_AGE_DAYS: String(r.chance(0.1) ? 0.01 : 30),
    RETENTION_DAYS: '30',
    LKE_ENDPOINT: 'https://lke.sim.invalid',
    LKE_RATE_LIMIT_PER_SECOND: String(lkeRate),
    SMH_BASE_URL: 'https://smh.sim.invalid',
    SMH_MAX_IDS_PER_REQUEST: String(r.pick([2, 3, 5, 10, 100])),
  };
  if (overload) env.POLL_BATCH_SIZE = String(r.pick([20, 30, 50]));
  else if (r.chance(0.7)) env.POLL_BATCH_SIZE = String(r.pick([2, 3, 5, 8, 20]));
  const pollTimeoutMs = overload ? r.pick([30_000, 45_000, 60_000]) : r.chance(0.25) ? 30_000 : 120_000;

  const lke = new Map<string, LkeTruth>();
  const smh = new Map<string, SmhTruth>();
  const libraries = new Map<string, SmhLibrary>([
    ['simlibA', { libraryId: 'simlibA', secret: 'secret-a', unknownIds: 'omit' }],
    ['simlibB', { libraryId: 'simlibB', secret: 'secret-b', unknownIds: 'refuse' }],
  ]);
  const actions: Scenario['actions'] = [];
  const horizon = faultsUntil - START;
  const timeline = (appear: number) => {
    const running = appear + r.int(0, 60_000);
    const final = r.chance(0.85) ? running + r.int(5_000, 10 * MIN) : undefined;
    return { running, final };
  };

  const lkeCount = overload ? r.int(90, 130) : quota ? r.int(20, 35) : r.chance(0.7) ? r.int(1, 10) : 0;
  for (let n = 0; n < lkeCount; n++) {
    const taskId = String(1000 + n);
    const taskType = r.pick(['ExportAttributeLabel', 'ModifyAttributeLabel']);
    const botBizId = r.pick(['1767024172536168448', '42']);
    const key = `lke:${botBizId}:${taskType}:${taskId}`;
    const appear = overload ? START : START + r.int(0, Math.floor(horizon * 0.8));
    const { running, final } = timeline(appear);
    const known = overload || r.chance(0.9);
    const entries: LkeTruth['timeline'] = [
      { at: appear, status: 'PENDING' },
      { at: running, status: 'RUNNING' },
    ];
    if (final !== undefined && !overload) {
      const ok = r.chance(0.7);
      entries.push({
        at: final,
        status: ok ? 'SUCCESS' : 'FAILED',
        message: ok ? '' : 'the label file is malformed',
        cosPath: ok ? `cos://bucket/export-${taskId}.xlsx` : '',
      });
    }
    lke.set(key, { key, botBizId, taskType, taskId, known, timeline: entries });
    addUserActions(r, actions, key, appear, faultsUntil, overload);
  }

  const smhCount = overload || quota ? 0 : r.chance(0.7) ? r.int(1, 25) : 0;
  for (let n = 0; n < smhCount; n++) {
    const library = r.pick(['simlibA', 'simlibB']);
    const levelDraw = r.next();
    const spaceId = levelDraw < 0.15 ? null : levelDraw < 0.6 ? '-' : 'space1';
    const userId = r.chance(0.2) ? 'user7' : undefined;
    const taskId = String(100 + n);
    const key = smhKey(library, spaceId, taskId, userId);
    const appear = START + r.int(0, Math.floor(horizon * 0.8));
    const { running, final } = timeline(appear);
    const known = r.chance(0.9);
    const entries: SmhTruth['timeline'] = [{ at: running, status: 202, result: 'null' }];
    if (final !== undefined) entries.push({ at: final, ...smhEnding(r) });
    smh.set(key, {
      key,
      libraryId: library,
      spaceId,
      ...(userId ? { userId } : {}),
      taskId,
      known,
      timeline: entries,
    });
    addUserActions(r, actions, key, appear, faultsUntil, false);
  }

  for (let at = START + r.int(1_000, 60_000); at < end; at += 60_000) {
    if (lke.size > 0) actions.push({ at, action: { kind: 'poll', provider: 'lke' } });
    if (smh.size > 0) actions.push({ at: at + 500, action: { kind: 'poll', provider: 'smh' } });
    if (quota) {
      // Two pollers at once, and bursts of on-demand reads, on one quota.
      actions.push({ at: at + r.int(0, 2_000), action: { kind: 'poll', provider: 'lke' } });
      const keys = [...lke.keys()];
      for (let burst = 0; burst < 2; burst++) {
        const from = at + r.int(0, 50_000);
        for (let n = r.int(5, 12); n > 0; n--)
          actions.push({
            at: from + r.int(0, 300),
            action: { kind: 'read', task: r.pick(keys), track: false },
          });
      }
      continue;
    }
    if (overload) {
      // The probe's overlap: several LKE pollers started together, sharing one quota from the start.
      for (let n = r.int(1, 2); n > 0; n--)
        actions.push({ at: at + r.int(0, 500), action: { kind: 'poll', provider: 'lke' } });
      continue;
    }
    // Overlap: another container of the same poller, while the first still runs.
    if (lke.size > 0 && r.chance(0.15))
      actions.push({ at: at + r.int(1_000, 40_000), action: { kind: 'poll', provider: 'lke' } });
    if (smh.size > 0 && r.chance(0.15))
      actions.push({ at: at + r.int(1_000, 40_000), action: { kind: 'poll', provider: 'smh' } });
  }
  // Some users stop tracking a task (DELETE /tasks/{id}), and some of them track it again later. Drawn from a
  // stream of its own, so the rest of the world stays as it was drawn before untracking existed.
  const u = new Rng(seed, 2);
  if (!overload && !quota)
    for (const key of [...lke.keys(), ...smh.keys()]) {
      if (!u.chance(0.12)) continue;
      const at = START + u.int(10_000, faultsUntil - START + 10 * MIN);
      actions.push({ at, action: { kind: 'untrack', task: key } });
      if (u.chance(0.3))
        actions.push({ at: at + u.int(1_000, 5 * MIN), action: { kind: 'track', task: key } });
    }
  // After the faults, a user tracks again whatever did not get tracked (the answer said so).
  actions.push({ at: faultsUntil + 1_000, action: { kind: 'retrack-all' } });
  actions.sort((a, b) => a.at - b.at);

  const lag = kind === 'calm' ? 0 : r.pick([0, 50, 300, 1_000]);
  return {
    seed,
    family: kind,
    start: START,
    faultsUntil,
    end,
    settleBy,
    env,
    lkeRate,
    pollTimeoutMs,
    lke,
    smh,
    libraries,
    actions,
    tableRates: kind === 'calm' || kind === 'overload' ? NO_FAULTS : tableRates,
    lkeRates,
    smhRates,
    awsRates,
    indexLagMs: [0, lag],
  };
}

/** How an SMH task ends, with a result as SMH writes it. */
function smhEnding(r: Rng): { status: number; result: string } {
  const d = r.next();
  if (d < 0.25) return { status: 200, result: '{"path":["a","b.jpg"],"srcInode":"12","dstInode":"34"}' };
  if (d < 0.4) return { status: 200, result: '{"deleteCount":123456789012345678901}' };
  if (d < 0.5)
    return {
      status: 200,
      result:
        '[{"status":200,"path":["x.jpg"]},{"status":403,"code":"NoPermission","path":["y.jpg"],"inode":9007199254740993}]',
    };
  if (d < 0.55)
    return { status: 200, result: '{"deleteCount":123456789012345678901234567890123456789012345}' };
  if (d < 0.65) return { status: 204, result: 'null' };
  if (d < 0.8) return { status: 500, result: 'null' };
  if (d < 0.88) return { status: 207, result: '[{"status":200,"path":["p"]},{"status":500,"path":["q"]}]' };
  if (d < 0.94) return { status: 499, result: 'null' };
  return { status: 400, result: '[{"status":403,"path":["z"]}]' };
}

/** What users do with a task: track it (some with a waiting execution), read it on demand. */
function addUserActions(
  r: Rng,
  actions: Scenario['actions'],
  key: string,
  appear: number,
  faultsUntil: number,
  overload: boolean,
) {
  const trackAt = appear + r.int(0, 20_000);
  if (overload || r.chance(0.75)) {
    const notify =
      !overload && r.chance(0.35)
        ? { token: `tok-${key}-${r.text(12)}`, heartbeat: r.chance(0.3) }
        : undefined;
    actions.push({ at: trackAt, action: { kind: 'track', task: key, ...(notify ? { notify } : {}) } });
    if (notify && r.chance(0.1))
      actions.push({
        at: trackAt + r.int(10_000, 600_000),
        action: { kind: 'stop-execution', token: notify.token },
      });
  } else actions.push({ at: trackAt, action: { kind: 'read', task: key, track: true } });
  if (overload) return;
  const reads = r.int(0, 3);
  for (let n = 0; n < reads; n++)
    actions.push({
      at: appear + r.int(0, faultsUntil - appear + 20 * MIN),
      action: { kind: 'read', task: key, track: r.chance(0.6) },
    });
}
