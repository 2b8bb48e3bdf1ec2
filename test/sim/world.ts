import FakeTimers from '@sinonjs/fake-timers';
import type { Context } from 'aws-lambda';
import { lkePoll } from '../../functions/lke/poll';
import { lkeStatus } from '../../functions/lke/status';
import { trackLke } from '../../functions/lke/track';
import { smhPoll } from '../../functions/smh/poll';
import { smhStatus } from '../../functions/smh/status';
import { trackSmh } from '../../functions/smh/track';
import { untrackTask } from '../../functions/tasks/untrack';
import { DynamoDb } from '../../lib/aws/dynamodb';
import { lkeConfig, smhConfig, trackingConfig, type TrackingConfig } from '../../lib/config';
import { AwsNotifier } from '../../lib/handover/notifier';
import { LkeClient } from '../../lib/lke/client';
import { SharedQuota } from '../../lib/lke/quota';
import { QuotaTable } from '../../lib/lke/quota-table';
import type { Log } from '../../lib/log';
import type { Metrics } from '../../lib/metrics';
import { SmhClient } from '../../lib/smh/client';
import { DeadlineExceededError, UpstreamThrottledError, UpstreamTimeoutError } from '../../lib/errors';
import { lkeChecker, smhChecker } from '../../lib/tracking/checkers';
import { trackingId, type TaskIdentity } from '../../lib/tracking/model';
import * as trackingService from '../../lib/tracking/service';
import { TaskStore } from '../../lib/tracking/store';
import { createTableInput } from '../../lib/tracking/table';
import { TableEngine } from './engine';
import {
  AwsEndpoint,
  LkeUpstream,
  SmhUpstream,
  tableTransport,
  type Caller,
  type Execution,
  type LkeTruth,
  type Net,
  type SmhTruth,
} from './fakes';
import { Invariants } from './invariants';
import { Rng } from './rng';
import { scenario, type Action, type Family, type Scenario } from './scenario';

/**
 * The deterministic simulation of the tracking core (FoundationDB / TigerBeetle VOPR style). One seed builds a
 * world (`scenario.ts`): tasks that move upstream, users who track and read them, pollers on their schedule and
 * overlapping, and faults on every call to the table, LKE, SMH and AWS until the faults stop. The real handlers
 * run (`lkePoll`, `smhPoll`, `lkeStatus`, `smhStatus`, `trackLke`, `trackSmh`: the real poll(), tracking,
 * on-demand reads and hand-over code), each in a simulated Lambda container that may die at any call, on a fake
 * clock (@sinonjs/fake-timers) and seeded randomness: the same seed replays the same run, step by step.
 * `invariants.ts` checks the rules after every change and at the end.
 */
export interface SimOptions {
  seed: number;
  family?: Family;
  /** Prints every trace line as it happens (replay). */
  print?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  family: Family;
  violations: string[];
  steps: number;
  /** The last trace lines (what led to the first violation, when there is one). */
  tail: string[];
  stats: Record<string, number>;
  /** The command that replays this seed step by step. */
  replay: string;
}

type Fn = 'lkePoll' | 'smhPoll' | 'lkeStatus' | 'smhStatus' | 'trackLke' | 'trackSmh' | 'untrackTask';
const TIMEOUT_MS: Record<Fn, number> = {
  lkePoll: 120_000,
  smhPoll: 120_000,
  lkeStatus: 10_000,
  smhStatus: 15_000,
  trackLke: 10_000,
  trackSmh: 15_000,
  untrackTask: 10_000,
};

interface Container extends Caller {
  fn: Fn;
  busy: boolean;
  /** Whether the invocation it runs may store its checks (a poll, or an on-demand read with track=true). */
  recording: boolean;
  handler: (event: unknown, context: Context) => Promise<unknown>;
}

/** The tracking code the status functions load on the first ?track=true: here already loaded, since a real
 * import() settles on real time (under tsx, on its loader thread), outside the fake clock. */
const tracking = () => Promise.resolve(trackingService);

const realImmediate = setImmediate;
const drain = async () => {
  await new Promise<void>((resolve) => realImmediate(resolve));
};

/** Runs one seed to its end; never throws for a broken invariant (they are in `violations`). */
export async function simulate(options: SimOptions): Promise<SimResult> {
  const world = new World(scenario(options.seed, options.family), options.print);
  const family = options.family ? ` -- --family ${options.family}` : '';
  return { ...(await world.run()), replay: `SIM_SEED=${options.seed} npm run sim${family}` };
}

class World implements Net {
  readonly rng: Rng;
  private readonly codeRng: Rng;
  private readonly scenario: Scenario;
  private readonly print?: (line: string) => void;
  private readonly tail: string[] = [];
  private readonly config: TrackingConfig;
  private readonly engine: TableEngine;
  private readonly checks: Invariants;
  private readonly lkeUpstream: LkeUpstream;
  private readonly smhUpstream: SmhUpstream;
  private readonly aws: AwsEndpoint;
  private readonly containers: Container[] = [];
  private readonly executions = new Map<string, Execution>();
  private readonly pending = new Set<Promise<unknown>>();
  private clock!: ReturnType<ReturnType<typeof FakeTimers.withGlobal>['install']>;
  private ids = 0;
  private containerCount = 0;
  private requests = 0;
  readonly stats = { invocations: 0, crashes: 0, steps: 0 };

  constructor(world: Scenario, print?: (line: string) => void) {
    this.scenario = world;
    this.print = print;
    this.rng = new Rng(world.seed, 2);
    this.codeRng = new Rng(world.seed, 3);
    this.config = trackingConfig(world.env);
    const log = {
      reported: (key: string, answer: unknown) => this.checks.reported(key, answer),
      arrived: (caller: Caller, at: number) => this.checks.arrived(caller.id, at),
      refused: (key: string) => this.checks.refused(key),
    };
    this.checks = new Invariants({
      scenario: world,
      config: this.config,
      executions: this.executions,
      trace: (line) => this.trace(line),
      item: (id) => this.engine.snapshotOf(id),
    });
    this.engine = new TableEngine(createTableInput(this.config.tableName), {
      indexLagMs: () => this.rng.int(world.indexLagMs[0], world.indexLagMs[1]),
      onWrite: (id, before, after) => this.checks.written(id, before, after),
    });
    this.lkeUpstream = new LkeUpstream(this, world.lke, world.lkeRates, world.lkeRate, log);
    this.smhUpstream = new SmhUpstream(this, world.smh, world.libraries, world.smhRates, log);
    this.aws = new AwsEndpoint(this, world.awsRates, this.executions, {
      delivered: (event) => this.checks.delivered(event),
      callback: (execution, kind, payload) => this.checks.calledBack(execution, kind, payload),
    });
  }

  faultsOn(): boolean {
    return Date.now() < this.scenario.faultsUntil;
  }

  trace(line: string): void {
    const stamped = `${((Date.now() - this.scenario.start) / 1000).toFixed(3).padStart(9)}s ${line}`;
    this.print?.(stamped);
    this.tail.push(stamped);
    if (this.tail.length > 400) this.tail.shift();
  }

  crash(caller: Caller, why: string): void {
    if (!caller.alive) return;
    caller.alive = false;
    this.stats.crashes++;
    this.trace(`CRASH ${caller.id}: ${why}`);
  }

  async run(): Promise<Omit<SimResult, 'replay'>> {
    const { scenario: world } = this;
    const random = Math.random;
    const unhandled = (reason: unknown) =>
      this.checks.violation('no process death', `unhandled rejection: ${describe(reason)}`);
    const uncaught = (error: unknown) =>
      this.checks.violation('no process death', `uncaught exception: ${describe(error)}`);
    // Under jest, the real process's events (test/sim/environment.js): the test's `process` never hears them.
    const events =
      (globalThis as { processEvents?: Pick<NodeJS.Process, 'on' | 'off'> }).processEvents ?? process;
    events.on('unhandledRejection', unhandled);
    events.on('uncaughtException', uncaught);
    this.clock = FakeTimers.withGlobal(globalThis).install({
      now: world.start,
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
      shouldClearNativeTimers: true,
    });
    Math.random = () => this.codeRng.next();
    try {
      this.trace(
        `seed ${world.seed} (${world.family}): ${world.lke.size} LKE and ${world.smh.size} SMH tasks, faults until ` +
          `${(world.faultsUntil - world.start) / 1000}s, settings ${JSON.stringify(world.env)}`,
      );
      for (const { at, action } of world.actions) setTimeout(() => this.act(action), at - world.start);
      while (Date.now() < world.end) {
        await drain();
        if (this.clock.countTimers() === 0) break;
        this.clock.next();
        this.stats.steps++;
        if (this.stats.steps > 2_000_000) {
          this.checks.violation('no process death', 'the simulation did not settle (2,000,000 steps)');
          break;
        }
      }
      await drain();
      this.checks.final(this.engine.snapshot());
    } finally {
      Math.random = random;
      this.clock.uninstall();
      events.off('unhandledRejection', unhandled);
      events.off('uncaughtException', uncaught);
      for (const container of this.containers) container.alive = false;
    }
    return {
      seed: world.seed,
      family: world.family,
      violations: this.checks.violations,
      steps: this.stats.steps,
      tail: this.tail.slice(-120),
      stats: { ...this.stats, ...this.checks.stats },
    };
  }

  // ---- users and schedules -----------------------------------------------------------------------------------

  private act(action: Action): void {
    switch (action.kind) {
      case 'poll':
        this.invoke(action.provider === 'lke' ? 'lkePoll' : 'smhPoll', {});
        return;
      case 'stop-execution': {
        const execution = this.executions.get(action.token);
        if (execution && execution.callbacks.length === 0) {
          execution.stopped = true;
          this.trace(`user stops the execution waiting with ${shortToken(action.token)}`);
        }
        return;
      }
      case 'retrack-all':
        for (const key of [...this.scenario.lke.keys(), ...this.scenario.smh.keys()])
          if (!this.checks.isTracked(key)) this.track(key);
        return;
      case 'track':
        this.track(action.task, action.notify);
        return;
      case 'untrack':
        // Asked for, it may apply even if the answer is lost: the rules allow `untracked` from here on.
        this.checks.untrackAsked(action.task);
        this.invoke('untrackTask', { id: this.checks.idOf(action.task) });
        return;
      case 'read':
        this.read(action.task, action.track);
        return;
    }
  }

  private track(key: string, notify?: { token: string; heartbeat: boolean }): void {
    const lke = this.scenario.lke.get(key);
    const smh = this.scenario.smh.get(key);
    const event = lke
      ? { taskId: lke.taskId, taskType: lke.taskType, botBizId: lke.botBizId }
      : smhQuery(smh as SmhTruth);
    const fn: Fn = lke ? 'trackLke' : 'trackSmh';
    // The execution and its token exist before the Lambda task starts (Step Functions makes the token first),
    // so a poller may call back before trackLke answers. If the task fails (an error, a crash, a timeout), Step
    // Functions closes it: its token is refused from then on.
    let execution = notify ? this.executions.get(notify.token) : undefined;
    if (notify && !execution) {
      execution = {
        token: notify.token,
        trackingId: this.checks.idOf(key),
        stopped: false,
        accepted: false,
        callbacks: [],
        heartbeats: 0,
      };
      this.executions.set(notify.token, execution);
    }
    this.invoke(
      fn,
      notify ? { ...event, notify: { taskToken: notify.token, heartbeat: notify.heartbeat } } : event,
      (output) => {
        this.checks.tracked(key);
        if (execution && output !== undefined) execution.accepted = true;
      },
      () => {
        if (execution && !execution.accepted && execution.callbacks.length === 0) execution.stopped = true;
      },
    );
  }

  private read(key: string, track: boolean): void {
    const lke = this.scenario.lke.get(key);
    const smh = this.scenario.smh.get(key);
    if (lke) {
      this.invoke(
        'lkeStatus',
        { taskId: lke.taskId, taskType: lke.taskType, botBizId: lke.botBizId, track },
        (output) => this.checks.answered(key, output as Record<string, unknown>),
      );
    } else {
      this.invoke('smhStatus', { ...smhQuery(smh as SmhTruth), track }, (output) => {
        for (const task of (output as { tasks: Record<string, unknown>[] }).tasks)
          this.checks.answered(key, task);
      });
    }
  }

  // ---- containers ----------------------------------------------------------------------------------------------

  private invoke(
    fn: Fn,
    event: Record<string, unknown>,
    onResult?: (output: unknown) => void,
    onFailure?: () => void,
  ): void {
    const container = this.containers.find((c) => c.fn === fn && c.alive && !c.busy) ?? this.container(fn);
    container.busy = true;
    container.recording = fn.endsWith('Poll') || event.track === true;
    this.stats.invocations++;
    const started = Date.now();
    const timeoutMs = fn.endsWith('Poll') ? this.scenario.pollTimeoutMs : TIMEOUT_MS[fn];
    const killAt = started + timeoutMs;
    const requestId = `req-${++this.requests}`;
    const context = lambdaContext(fn, requestId, killAt);
    this.trace(`invoke ${fn} on ${container.id} (${requestId}) ${summarize(event)}`);
    let done = false;
    const kill = setTimeout(() => {
      if (done || !container.alive) return;
      this.checks.violation(
        'no process death',
        `${fn} ${requestId} did not return within its ${timeoutMs} ms timeout`,
      );
      this.crash(container, 'killed at its timeout');
    }, timeoutMs);
    const run = container.handler(event, context).then(
      (output) => {
        if (!container.alive) return onFailure?.();
        done = true;
        clearTimeout(kill);
        container.busy = false;
        this.trace(`${fn} ${requestId} answered ${summarize(output)}`);
        onResult?.(output);
      },
      (error: unknown) => {
        if (!container.alive) return onFailure?.();
        done = true;
        clearTimeout(kill);
        container.busy = false;
        onFailure?.();
        const name = (error as Error).name;
        this.trace(`${fn} ${requestId} failed: ${name}: ${(error as Error).message.slice(0, 160)}`);
        if (name === 'InternalError' || name === 'Error' || name === 'TypeError')
          this.checks.violation(
            'typed errors',
            `${fn} ${requestId} failed with ${name}: ${(error as Error).message}`,
          );
        if (Date.now() > killAt)
          this.checks.violation('no process death', `${fn} ${requestId} answered after its timeout`);
      },
    );
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  private container(fn: Fn): Container {
    const id = `${fn}#${++this.containerCount}`;
    const caller: Caller = { id, alive: true };
    const log = simLog(this, id);
    const metrics: Metrics = {
      add: (name) => {
        if (name === 'QuotaFailedOpen') this.checks.failedOpen(id, Date.now());
      },
      addWith: () => undefined,
    };
    const client = new DynamoDb({
      endpoint: 'https://dynamodb.sim.invalid',
      region: 'us-east-1',
      credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
      transport: tableTransport(this, { engine: this.engine, rates: this.scenario.tableRates }, caller),
    });
    const store = new TaskStore({ client, config: this.config, newId: () => `w${++this.ids}` });
    const quotaTable = new QuotaTable({
      client,
      tableName: this.config.tableName,
      newId: () => `q${++this.ids}`,
    });
    const lke = new LkeClient({
      config: lkeConfig(this.scenario.env),
      credentials: async () => ({ secretId: 'AKIDsim', secretKey: 'sim-key' }),
      log,
      metrics,
      quota: new SharedQuota({
        table: () => quotaTable,
        limitPerSecond: this.scenario.lkeRate,
        log,
        metrics,
      }),
      sdk: () => this.lkeUpstream.sdkFor(caller),
    });
    const smh = new SmhClient({
      config: smhConfig(this.scenario.env),
      secrets: async (libraryId) => ({ secret: this.scenario.libraries.get(libraryId)?.secret ?? 'unknown' }),
      log,
      metrics,
      fetch: this.smhUpstream.fetchFor(caller),
    });
    // `caller` becomes the container (below), whose `recording` says what the invocation under way may store.
    this.countChecks(lke, smh, fn, () => (caller as Partial<Container>).recording === true);
    const notifier = new AwsNotifier({ api: this.aws.apiFor(caller), busName: 'default', log });
    let runs = 0;
    const poller = (checker: ReturnType<typeof lkeChecker>) => () => ({
      store,
      checker,
      notifier,
      log,
      owner: `${id}/run${++runs}`,
    });
    const handlers: Record<Fn, () => Container['handler']> = {
      lkePoll: () => lkePoll({ poller: poller(lkeChecker(() => lke)), log }),
      smhPoll: () => smhPoll({ poller: poller(smhChecker(() => smh)), log }),
      lkeStatus: () => lkeStatus({ lke: () => lke, store: () => store, tracking, log }),
      smhStatus: () => smhStatus({ smh: () => smh, store: () => store, tracking, log }),
      trackLke: () => trackLke({ store: () => store, log }),
      trackSmh: () => trackSmh({ store: () => store, log }),
      untrackTask: () => untrackTask({ store: () => store, log }),
    };
    const container: Container = Object.assign(caller, {
      fn,
      busy: false,
      recording: false,
      handler: handlers[fn](),
    });
    this.containers.push(container);
    return container;
  }

  /**
   * Counts every check that may be stored, per task, for the counting rule: a poller's query that ended with a
   * reading or with an error that says something (not throttled, not out of the run's time), and an on-demand
   * reading with track=true. An on-demand read without it, or one that failed, stores nothing.
   */
  private countChecks(lke: LkeClient, smh: SmhClient, fn: Fn, recording: () => boolean) {
    const byPoller = fn.endsWith('Poll');
    const countable = (error: unknown, deadline: number | undefined) =>
      recording() &&
      (error === undefined ||
        (byPoller &&
          !(error instanceof UpstreamThrottledError) &&
          !(error instanceof DeadlineExceededError) &&
          !(error instanceof UpstreamTimeoutError && Date.now() >= (deadline ?? Infinity))));
    const getTaskStatus = lke.getTaskStatus.bind(lke);
    lke.getTaskStatus = async (query, options) => {
      const key = `lke:${query.botBizId}:${query.taskType}:${query.taskId}`;
      try {
        const answer = await getTaskStatus(query, options);
        if (countable(undefined, options?.deadline)) this.checks.checked(key, byPoller, answer.checkedAt);
        return answer;
      } catch (error) {
        if (countable(error, options?.deadline)) this.checks.checked(key, byPoller);
        throw error;
      }
    };
    const queryTasks = smh.queryTasks.bind(smh);
    smh.queryTasks = async (query, options) => {
      const keyOf = (taskId: string) =>
        `smh:${query.libraryId}:${query.spaceId ?? '~'}:${taskId}:${query.userId ?? ''}`;
      try {
        const answer = await queryTasks(query, options);
        const read = new Map(answer.tasks.map((task) => [task.taskId, task.checkedAt]));
        if (countable(undefined, options?.deadline))
          for (const taskId of query.taskIds) this.checks.checked(keyOf(taskId), byPoller, read.get(taskId));
        return answer;
      } catch (error) {
        if (countable(error, options?.deadline))
          for (const taskId of query.taskIds) this.checks.checked(keyOf(taskId), byPoller);
        throw error;
      }
    };
  }
}

function smhQuery(truth: SmhTruth) {
  return {
    libraryId: truth.libraryId,
    ...(truth.spaceId === null ? {} : { spaceId: truth.spaceId }),
    taskIds: [truth.taskId],
    ...(truth.userId ? { userId: truth.userId } : {}),
  };
}

/** The tracking id of a task of the scenario. */
export function idOfTruth(truth: LkeTruth | SmhTruth): string {
  const identity: TaskIdentity =
    'botBizId' in truth
      ? { provider: 'lke', botBizId: truth.botBizId, taskType: truth.taskType, taskId: truth.taskId }
      : {
          provider: 'smh',
          libraryId: truth.libraryId,
          spaceId: truth.spaceId,
          taskId: truth.taskId,
          ...(truth.userId ? { userId: truth.userId } : {}),
        };
  return trackingId(identity);
}

function lambdaContext(fn: string, requestId: string, killAt: number): Context {
  return {
    awsRequestId: requestId,
    functionName: fn,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${fn}`,
    memoryLimitInMB: '256',
    logGroupName: `/aws/lambda/${fn}`,
    logStreamName: 'sim',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, killAt - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A process's log: warnings and errors go to the trace. */
function simLog(world: World, id: string): Log {
  const line =
    (level: string) =>
    (message: string, ...extra: Record<string, unknown>[]) => {
      const facts = extra.length > 0 ? ` ${JSON.stringify(Object.assign({}, ...extra)).slice(0, 300)}` : '';
      world.trace(`  ${level} [${id}] ${message}${facts}`);
    };
  return { debug: () => undefined, info: line('info'), warn: line('warn'), error: line('ERROR') };
}

function summarize(value: unknown): string {
  return (
    JSON.stringify(value, (key, v) => (key === 'taskToken' ? shortToken(String(v)) : v))?.slice(0, 240) ?? ''
  );
}

const shortToken = (token: string) => `${token.slice(0, 14)}…`;

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}\n${error.stack?.split('\n').slice(1, 6).join('\n')}`
    : String(error);
}
