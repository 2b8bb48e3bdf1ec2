import { createHash, randomUUID } from 'node:crypto';
import { backoffMs, WRITE_CONFLICT } from '../backoff';
import { mapLimit } from '../concurrency';
import type { TrackingConfig } from '../config';
import { ValidationError, type Provider } from '../errors';
import { sleep } from '../retry';
import { isFinished } from '../task';
import type { CallOptions } from '../upstream';
import type { DynamoDb, TableOperation } from '../aws/dynamodb';
import { TRACKED_STATUSES, TRACKING_ID_PATTERN, type IdentityFilter } from '../validate';
import { cutResult, itemSize, MAX_ITEM_BYTES, unstorable, valueSize } from './item-size';
import { identityKey, trackingId, type OutboxEntry, type TrackedStatus, type TrackedTask } from './model';
import { sendWithin, TABLE } from './table';
import { claim, dueAt, isStaleCheck, settleStaleLease, type Context } from './transitions';

/**
 * The tracking table, with single-item conditional writes only (dynalite has no transactions, and none are
 * needed): every write is a Put conditional on the version that was read, and `update()` re-applies a transition
 * to the fresh record when another writer won the race. Each write carries a random `writeId`, so a Put whose
 * answer was lost and that the SDK retried recognises itself instead of being applied twice. Index attributes
 * (`dueShard`/`dueAt`, `listSk`, `expiresAt`) are derived from the record on every write, never edited by hand,
 * and no item is ever written over DynamoDB's 400 KB: a result too large is cut (lib/tracking/item-size.ts).
 *
 * Every call is bounded by the caller's deadline (`within()`): it answers, or fails with 503 StoreUnavailable,
 * in time for the caller to say so.
 */
export interface StoreDeps {
  /** The table's client (lib/aws/dynamodb.ts), with its own timeouts and retries (TABLE_CLIENT_DEFAULTS). */
  client: DynamoDb;
  config: TrackingConfig;
  now?: () => number;
  /** The caller's deadline and signal; without one, each call gets 10 s (lib/tracking/table.ts). */
  call?: CallOptions;
  /** Ids for writes (`writeId`); random by default, a seeded sequence in the simulation. */
  newId?: () => string;
  /** Poll runs' records as read (`settleStale`), shared by every `within()` copy of the container's store. */
  runs?: Map<string, ReadonlySet<string> | null>;
}

/**
 * What one claim came to. It never loses a task it won: when a write fails part-way, the claim stops and
 * answers what it won, the ids whose claim may have landed without an answer (`unsure`: the caller gives them
 * back if it holds them), and the error.
 */
export interface Claim {
  tasks: TrackedTask[];
  unsure: string[];
  error?: unknown;
}

export type Mutation = (current: TrackedTask, ctx: Context) => TrackedTask | null;

export interface ListQuery {
  provider?: Provider;
  status?: TrackedStatus;
  /** The upstream identity, whole or a prefix of it (the provider is `provider`'s). */
  identity?: IdentityFilter;
  limit?: number;
  nextToken?: string;
}

/** Page size when the caller gives none (lib/contract-docs.ts documents it). */
export const LIST_DEFAULT_LIMIT = 25;
/** Index entries read per Query of `byIdentity`: each is under 300 bytes, so a page reads at most ~8 KB. */
const IDENTITY_PAGE = 30;
/**
 * Queries of `byIdentity` one listing call makes at most (300 entries): a filter that matches little in a large
 * scope answers a short page and a nextToken rather than read on until the caller's deadline.
 */
export const IDENTITY_MAX_QUERIES = 10;

/**
 * Partitions of the due index per provider. Fixed, not a setting: a record's shard is derived from its id, and a
 * count that changed would strand records in shards no poller reads again.
 */
export const DUE_SHARDS = 4;
/** How long a poll run's record is kept (DynamoDB TTL): longer than any wait for a task's next check. */
export const RUN_RECORD_DAYS = 7;
/** Poll runs' records kept in a container's memory (each ~100 bytes). */
const RUN_CACHE_SIZE = 1000;
const PROVIDERS: Provider[] = ['lke', 'smh'];
const MAX_WRITE_TRIES = 8;
const CLAIM_CONCURRENCY = 8;
/**
 * Records one claim may hold, in DynamoDB bytes (a record takes two to three times as much in memory): with the
 * batch claimed ahead and the tasks deferred, a poller at 256 MB stays well inside its memory even when every due
 * record is a finished task owing the hand-over of a result of hundreds of KB.
 */
export const CLAIM_MAX_BYTES = 16 * 1024 * 1024;

type Key = Record<string, unknown>;
type PutOutcome = { written: TrackedTask } | { conflict: TrackedTask | undefined };

export class TaskStore {
  readonly config: TrackingConfig;
  readonly now: () => number;
  private readonly runs: Map<string, ReadonlySet<string> | null>;

  constructor(private readonly deps: StoreDeps) {
    this.config = deps.config;
    this.now = deps.now ?? Date.now;
    this.runs = deps.runs ?? new Map();
  }

  /** The same table and client, every call bounded by the caller's deadline and signal. */
  within(call: CallOptions): this {
    const Store = this.constructor as new (deps: StoreDeps) => this;
    return new Store({ ...this.deps, runs: this.runs, call });
  }

  context(owner?: string): Context {
    return owner === undefined
      ? { now: this.now(), schedule: this.config }
      : { now: this.now(), schedule: this.config, owner };
  }

  async get(id: string): Promise<TrackedTask | undefined> {
    return this.read(id, true);
  }

  /** Writes a new record unless one with its id exists; answers the stored one and whether it was created. */
  async create(task: TrackedTask): Promise<{ task: TrackedTask; created: boolean }> {
    const outcome = await this.put({ ...task, version: 1 }, null);
    if ('written' in outcome) return { task: outcome.written, created: true };
    if (!outcome.conflict) throw new Error(`record ${task.id} vanished during creation`);
    return { task: outcome.conflict, created: false };
  }

  /**
   * Applies `mutate` to the current record and writes it if the record did not change meanwhile; on a lost
   * race, re-applies it to the record as it is now. Answers the stored record, or undefined when the record
   * does not exist (`written: false` when `mutate` had nothing to write).
   */
  async update(id: string, mutate: Mutation, options: { current?: TrackedTask; owner?: string } = {}) {
    let current = options.current ?? (await this.get(id));
    for (let attempt = 0; attempt < MAX_WRITE_TRIES && current; attempt++) {
      const settled = await this.settleStale(current);
      const next = mutate(settled, this.context(options.owner)) ?? (settled === current ? null : settled);
      if (!next) return { task: current, written: false };
      const outcome = await this.put({ ...next, version: current.version + 1 }, current.version);
      if ('written' in outcome) return { task: outcome.written, written: true };
      await sleep(backoffMs(WRITE_CONFLICT, attempt)); // spread out writers that keep colliding
      current = outcome.conflict;
    }
    if (!current) return undefined;
    throw new Error(`record ${id} kept changing: gave up after ${MAX_WRITE_TRIES} tries`);
  }

  /**
   * Claims up to `limit` due tasks of a provider for `owner` until `leaseUntil`, the longest-due first across
   * all shards (a merge of the shards' `dueAt` order), so no task waits because of the shard it hashed to. Each
   * claim is a conditional write: two pollers never hold the same task, and a lease that ran out makes the task
   * due again (settled first if its poller left a check on it: `settleStale`). Tasks in `exclude` (already
   * handled by this run) or not `accept`ed are skipped without a write. Never throws: a failure stops the claim
   * and is answered with what was won before it (`Claim`).
   */
  async claimDue(
    provider: Provider,
    owner: string,
    leaseUntil: number,
    limit: number,
    exclude: ReadonlySet<string> = new Set(),
    /** Only tasks this run can do something with (a run without a notifier leaves owed notifications alone). */
    accept: (task: TrackedTask) => boolean = () => true,
    /** Stop picking once the picked records add up to this many bytes (at least one is always picked). */
    maxBytes = CLAIM_MAX_BYTES,
  ): Promise<Claim> {
    const result: Claim = { tasks: [], unsure: [] };
    const ctx = { ...this.context(owner), owner };
    const pageSize = Math.ceil(limit / DUE_SHARDS) + 10;
    const shards = Array.from({ length: DUE_SHARDS }, (_, n) => ({
      shard: `${provider}#${n}`,
      buffer: [] as { dueAt: number; task: TrackedTask; item: Record<string, unknown> }[],
      startKey: undefined as Key | undefined,
      done: false,
    }));
    const fill = async (cursor: (typeof shards)[number]) => {
      while (cursor.buffer.length === 0 && !cursor.done) {
        const page = await this.send('Query', {
          TableName: this.config.tableName,
          IndexName: TABLE.dueIndex.name,
          KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
          ExpressionAttributeNames: { '#shard': TABLE.dueIndex.hashKey, '#dueAt': TABLE.dueIndex.rangeKey },
          ExpressionAttributeValues: { ':shard': cursor.shard, ':now': ctx.now },
          Limit: pageSize,
          ExclusiveStartKey: cursor.startKey,
        });
        for (const item of page.Items ?? []) {
          const task = fromItem(item);
          if (!exclude.has(task.id) && accept(task))
            cursor.buffer.push({ dueAt: Number(item[TABLE.dueIndex.rangeKey]), task, item });
        }
        cursor.startKey = page.LastEvaluatedKey;
        cursor.done = cursor.startKey === undefined;
      }
    };
    /** One conditional write on what the index showed (possibly stale: the condition decides). */
    const claimOne = async (candidate: TrackedTask): Promise<TrackedTask | undefined> => {
      if (result.error !== undefined) return undefined; // the claim already failed: claim nothing more
      try {
        const next = claim(await this.settleStale(candidate), ctx, leaseUntil);
        if (!next) return undefined;
        const outcome = await this.put({ ...next, version: candidate.version + 1 }, candidate.version);
        if ('written' in outcome) return outcome.written;
        // Our claim landed, its answer was lost, and another writer landed after it (so the read-back shows
        // another writeId): the lease still names this run, which no one else writes.
        return outcome.conflict?.lease?.owner === owner ? outcome.conflict : undefined;
      } catch (error) {
        result.error ??= error;
        result.unsure.push(candidate.id); // the write may have landed, its answer lost
        return undefined;
      }
    };
    try {
      await Promise.all(shards.map(fill));
      let bytes = 0; // of the records claimed
      while (result.tasks.length < limit && bytes < maxBytes && result.error === undefined) {
        const picks: { task: TrackedTask; bytes: number }[] = [];
        let picked = 0;
        while (
          picks.length < limit - result.tasks.length &&
          (bytes + picked < maxBytes || result.tasks.length + picks.length === 0)
        ) {
          let oldest: (typeof shards)[number] | undefined;
          for (const cursor of shards) {
            const head = cursor.buffer[0];
            if (head && (!oldest || head.dueAt < (oldest.buffer[0] as { dueAt: number }).dueAt))
              oldest = cursor;
          }
          if (!oldest) break;
          const next = oldest.buffer.shift() as { task: TrackedTask; item: Record<string, unknown> };
          const pick = { task: next.task, bytes: itemSize(next.item) }; // sized when picked, not when read
          picks.push(pick);
          picked += pick.bytes;
          await fill(oldest);
        }
        if (picks.length === 0) break;
        const won = await mapLimit(picks, CLAIM_CONCURRENCY, ({ task }) => claimOne(task));
        won.forEach((task, n) => {
          if (!task) return;
          result.tasks.push(task);
          bytes += (picks[n] as { bytes: number }).bytes;
        });
      }
    } catch (error) {
      result.error ??= error; // a page of the index could not be read
    }
    return result;
  }

  async list(query: ListQuery = {}): Promise<{ items: TrackedTask[]; nextToken?: string }> {
    const limit = Math.min(Math.max(query.limit ?? LIST_DEFAULT_LIMIT, 1), 100);
    if (query.identity) return this.listByIdentity(query.identity, query.status, limit, query.nextToken);
    const providers = query.provider ? [query.provider] : PROVIDERS;
    const scope = queryScope(query, limit);
    const cursor = decodeToken(query.nextToken, scope, providers, query.status);
    let index = cursor ? providers.indexOf(cursor.provider) : 0;
    let startKey = cursor?.key;
    const items: TrackedTask[] = [];
    while (index < providers.length && items.length < limit) {
      const provider = providers[index] as Provider;
      const values: Record<string, unknown> = { ':p': provider };
      let condition = '#p = :p';
      if (query.status) {
        condition += ' AND begins_with(#sk, :s)';
        values[':s'] = `${query.status}#`;
      }
      const page = await this.send('Query', {
        TableName: this.config.tableName,
        IndexName: TABLE.listIndex.name,
        KeyConditionExpression: condition,
        ExpressionAttributeNames: {
          '#p': TABLE.listIndex.hashKey,
          ...(query.status ? { '#sk': TABLE.listIndex.rangeKey } : {}),
        },
        ExpressionAttributeValues: values,
        Limit: limit - items.length,
        ExclusiveStartKey: startKey,
        ScanIndexForward: false,
      }).catch((error: unknown) => {
        // Belt and braces: a start key DynamoDB still refuses is the caller's token, not our bug.
        if (startKey && (error as Error).name === 'ValidationException') {
          throw new ValidationError('nextToken is not valid for this query: start again without it');
        }
        throw error;
      });
      items.push(...(page.Items ?? []).map(fromItem));
      if (page.LastEvaluatedKey) {
        startKey = page.LastEvaluatedKey;
        if (items.length >= limit) {
          return { items, nextToken: encodeToken({ v: 1, scope, provider, key: startKey }) };
        }
      } else {
        index++;
        startKey = undefined;
      }
    }
    const nextProvider = providers[index];
    return index < providers.length && nextProvider
      ? { items, nextToken: encodeToken({ v: 1, scope, provider: nextProvider }) }
      : { items };
  }

  /**
   * Records by their upstream identity. A whole LKE identity is one read (the record id is derived from it). Any
   * other filter reads the `byIdentity` index of the scope (an LKE application, an SMH library) from the longest
   * key prefix the filter gives, filtered by status and by a task id given without what precedes it, then reads
   * the page's records (eventually consistent, one read each); a record whose status no longer matches (the index
   * lags the table) or that is gone is left out, so a page may hold fewer than `limit`. A call reads at most
   * IDENTITY_MAX_QUERIES pages of the index: a filter that matches little in a large scope answers a short (even
   * empty) page with a nextToken. Ordered by the identity (task type or space, then task id).
   */
  private async listByIdentity(
    filter: IdentityFilter,
    status: TrackedStatus | undefined,
    limit: number,
    nextToken: string | undefined,
  ): Promise<{ items: TrackedTask[]; nextToken?: string }> {
    const matches = (task: TrackedTask | undefined): task is TrackedTask =>
      task !== undefined && (status === undefined || task.status === status);
    if (filter.provider === 'lke' && filter.taskType !== undefined && filter.taskId !== undefined) {
      if (nextToken !== undefined)
        throw new ValidationError('nextToken is not valid for this query: start again without it');
      const id = trackingId({
        provider: 'lke',
        botBizId: filter.botBizId,
        taskType: filter.taskType,
        taskId: filter.taskId,
      });
      const task = await this.read(id, false);
      return { items: matches(task) ? [task] : [] };
    }
    const { scope, prefix, taskId } = identityQuery(filter);
    const tokenScope = `identity|${scope}|${prefix}|${taskId ?? '*'}|${status ?? '*'}|${limit}`;
    let startKey = decodeIdentityToken(nextToken, tokenScope, scope, prefix);
    const names: Record<string, string> = {
      '#scope': TABLE.identityIndex.hashKey,
      ...(prefix ? { '#sk': TABLE.identityIndex.rangeKey } : {}),
    };
    const values: Record<string, unknown> = { ':scope': scope, ...(prefix ? { ':prefix': prefix } : {}) };
    const filters: string[] = [];
    if (status) {
      names['#status'] = 'status';
      values[':status'] = status;
      filters.push('#status = :status');
    }
    if (taskId !== undefined) {
      Object.assign(names, { '#identity': 'identity', '#taskId': 'taskId' });
      values[':taskId'] = taskId;
      filters.push('#identity.#taskId = :taskId');
    }
    const keys: Record<string, unknown>[] = [];
    let more = false;
    let queries = 0;
    do {
      queries++;
      const page = await this.send('Query', {
        TableName: this.config.tableName,
        IndexName: TABLE.identityIndex.name,
        KeyConditionExpression: prefix ? '#scope = :scope AND begins_with(#sk, :prefix)' : '#scope = :scope',
        ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        Limit: IDENTITY_PAGE,
        ExclusiveStartKey: startKey,
      });
      for (const entry of page.Items ?? []) {
        if (keys.length === limit) {
          more = true; // this page holds more than the caller asked for: the next one starts after the last kept
          break;
        }
        keys.push(entry);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey && keys.length < limit && !more && queries < IDENTITY_MAX_QUERIES);
    const last = keys.at(-1);
    const resume =
      more && last
        ? {
            [TABLE.hashKey]: last[TABLE.hashKey],
            [TABLE.identityIndex.hashKey]: last[TABLE.identityIndex.hashKey],
            [TABLE.identityIndex.rangeKey]: last[TABLE.identityIndex.rangeKey],
          }
        : startKey;
    const records = await mapLimit(keys, CLAIM_CONCURRENCY, (entry) =>
      this.read(String(entry[TABLE.hashKey]), false),
    );
    const items = records.filter(matches);
    return resume
      ? { items, nextToken: encodeToken({ v: 1, scope: tokenScope, provider: filter.provider, key: resume }) }
      : { items };
  }

  /** One record, read strongly or eventually consistent (half the read cost, for listings). */
  private async read(id: string, consistent: boolean): Promise<TrackedTask | undefined> {
    const { Item } = await this.send('GetItem', {
      TableName: this.config.tableName,
      Key: { id },
      ConsistentRead: consistent,
    });
    return Item ? fromItem(Item) : undefined;
  }

  /**
   * One conditional Put: on a new id (`expectedVersion` null) or on the version that was read. On a failed
   * condition, reads the record: if it carries this write's id, the write had landed (its answer was lost and
   * the SDK retried it), so it counts as written; otherwise answers the record as it is now. When another writer
   * landed after ours, the read-back cannot tell: callers re-apply their transition, and transitions are written
   * so that applying one again changes nothing (a poller's only while it holds its lease, `heldBy`; a claim
   * recognises its own lease, `claimDue`).
   */
  private async put(task: TrackedTask, expectedVersion: number | null): Promise<PutOutcome> {
    const { item, task: stored } = toItem(
      { ...task, writeId: (this.deps.newId ?? randomUUID)() },
      this.config,
    );
    try {
      await this.send('PutItem', {
        TableName: this.config.tableName,
        Item: item,
        ...(expectedVersion === null
          ? { ConditionExpression: 'attribute_not_exists(id)' }
          : {
              ConditionExpression: '#v = :v',
              ExpressionAttributeNames: { '#v': 'version' },
              ExpressionAttributeValues: { ':v': expectedVersion },
            }),
      });
      return { written: stored };
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      const current = await this.get(task.id);
      return current && current.writeId === stored.writeId ? { written: current } : { conflict: current };
    }
  }

  /**
   * Writes this run's record, `run#<owner>`, at the end of a poll run that left checks on records without writing
   * them (unchanged readings: the claim had already stored them). Whoever next writes one of those records finds
   * the ended lease still holding the check (`isStaleCheck`) and reads this record to settle it: the check was
   * made, unless the record lists it as `unresolved` (claimed for a check this run could neither store nor give
   * back), or there is no record (the run died). Kept `RUN_RECORD_DAYS`.
   */
  async recordRun(owner: string, provider: Provider, unresolved: string[]): Promise<void> {
    const now = this.now();
    await this.send('PutItem', {
      TableName: this.config.tableName,
      Item: {
        id: runRecordId(owner),
        runProvider: provider,
        unresolved,
        at: new Date(now).toISOString(),
        [TABLE.ttlAttribute]: Math.floor(now / 1000) + RUN_RECORD_DAYS * 86_400,
      },
    });
  }

  /**
   * A record whose lease ended with its poller's check still on it (`isStaleCheck`), settled by that poller's run
   * record (`recordRun`): the check stays counted if it was made, else it is undone. Run records never change
   * once their run is over, so each is read once per container. Anything else is answered as it is.
   */
  private async settleStale(task: TrackedTask): Promise<TrackedTask> {
    if (!isStaleCheck(task, this.now())) return task;
    const owner = (task.lease as { owner: string }).owner;
    let run = this.runs.get(owner);
    if (run === undefined) {
      const { Item } = await this.send('GetItem', {
        TableName: this.config.tableName,
        Key: { id: runRecordId(owner) },
        ConsistentRead: true,
      });
      run = Item ? new Set((Item.unresolved as string[] | undefined) ?? []) : null;
      if (this.runs.size >= RUN_CACHE_SIZE) this.runs.delete(this.runs.keys().next().value as string);
      this.runs.set(owner, run);
    }
    return settleStaleLease(task, run !== null && !run.has(task.id));
  }

  private send(operation: TableOperation, input: Record<string, unknown>) {
    return sendWithin(this.deps.client, operation, input, this.deps.call);
  }
}

/** A poll run's record (`recordRun`): not a task, in no index. */
export function runRecordId(owner: string): string {
  return `run#${owner}`;
}

function shardOf(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) % DUE_SHARDS;
}

/** The table item for a record, and the record as stored (its result cut if the item would exceed 400 KB). */
export function toItem(task: TrackedTask, config: Pick<TrackingConfig, 'retentionDays'>) {
  let stored = task;
  const problem =
    stored.result !== null && stored.resultTruncated?.unstorable === undefined
      ? unstorable(stored.result)
      : undefined;
  if (problem) {
    // Not an outage, and no retry will help: the reading is stored without its result, and the record says why.
    const message = `The result holds a value DynamoDB cannot store, so it was left out (read it upstream): ${problem}`;
    stored = {
      ...stored,
      result: null,
      resultTruncated: { originalBytes: valueSize(stored.result), storedBytes: 1, unstorable: problem },
      lastError: {
        code: 'ResultNotStorable',
        message: message.slice(0, 1024),
        at: stored.lastCheckedAt ?? new Date().toISOString(),
      },
    };
  }
  let item = itemFor(stored, config);
  if (itemSize(item) > MAX_ITEM_BYTES && stored.result !== null) {
    // What the record takes without its result, plus room for the note on how it was cut.
    const rest = itemSize(itemFor({ ...stored, result: null, resultTruncated: null }, config)) + 2048;
    const { result, cut } = cutResult(stored.result, MAX_ITEM_BYTES - rest);
    stored = { ...stored, result, resultTruncated: cut };
    item = itemFor(stored, config);
  }
  const size = itemSize(item);
  if (size > MAX_ITEM_BYTES) throw new Error(`record ${task.id} needs ${size} bytes even without its result`);
  return { item, task: stored };
}

function itemFor(task: TrackedTask, config: Pick<TrackingConfig, 'retentionDays'>) {
  const provider = task.identity.provider;
  const item: Record<string, unknown> = {
    ...task,
    provider,
    [TABLE.listIndex.rangeKey]: `${task.status}#${task.firstSeenAt}#${task.id}`,
    ...identityKey(task.identity),
  };
  const due = dueAt(task);
  if (due !== null) {
    // In the sparse due-index while there is something to do: a check, an outbox to deliver, a lease to expire.
    item[TABLE.dueIndex.hashKey] = `${provider}#${shardOf(task.id)}`;
    item[TABLE.dueIndex.rangeKey] = due;
  }
  if (isFinished(task.status) && task.finishedAt) {
    item[TABLE.ttlAttribute] = Math.floor(Date.parse(task.finishedAt) / 1000 + config.retentionDays * 86_400);
  }
  return item;
}

export function fromItem(item: Record<string, unknown>): TrackedTask {
  const {
    provider: _provider,
    [TABLE.listIndex.rangeKey]: _listSk,
    [TABLE.identityIndex.hashKey]: _scope,
    [TABLE.identityIndex.rangeKey]: _scopeSk,
    [TABLE.dueIndex.hashKey]: _shard,
    [TABLE.dueIndex.rangeKey]: _dueAt,
    [TABLE.ttlAttribute]: _expiresAt,
    ...task
  } = item;
  return upgrade(task);
}

/**
 * Records written by an earlier version (copies of the record in the outbox, one `outboxDueAt`) are read in
 * today's shape, so a table or a local `.data/` survives an upgrade.
 */
function upgrade(raw: Record<string, unknown>): TrackedTask {
  if (raw.trackedAt !== undefined) return raw as unknown as TrackedTask;
  const { outboxDueAt, errors: _errors, ...rest } = raw as Record<string, unknown> & { outboxDueAt?: string };
  type Legacy = OutboxEntry & {
    detail?: { status?: TrackedStatus; upstreamStatus?: string | number; message?: string };
  };
  const task = rest as unknown as Omit<TrackedTask, 'outbox'> & { outbox: Legacy[] };
  const nextAttemptAt = outboxDueAt ?? new Date(0).toISOString();
  return {
    ...task,
    resultTruncated: null,
    polls: task.attempts,
    strikes: null,
    trackedAt: task.firstSeenAt,
    undelivered: [],
    outbox: task.outbox.map((entry) =>
      entry.kind === 'event'
        ? {
            id: entry.id,
            kind: 'event',
            detailType: entry.detailType,
            status: entry.detail?.status ?? task.status,
            upstreamStatus: entry.detail?.upstreamStatus ?? task.upstreamStatus,
            message: entry.detail?.message ?? task.message,
            at: entry.at,
            attempts: entry.attempts,
            nextAttemptAt,
          }
        : {
            id: entry.id,
            kind: 'callback',
            taskToken: entry.taskToken,
            at: nextAttemptAt,
            attempts: entry.attempts,
            nextAttemptAt,
          },
    ),
  };
}

/** What a filter on the identity reads: the scope, the key prefix it gives, a task id to filter on. */
function identityQuery(filter: IdentityFilter): { scope: string; prefix: string; taskId?: string } {
  if (filter.provider === 'lke') {
    const scope = `lke#${filter.botBizId}`;
    if (filter.taskType === undefined)
      return { scope, prefix: '', ...(filter.taskId !== undefined ? { taskId: filter.taskId } : {}) };
    return { scope, prefix: `${filter.taskType}#` }; // with a task id it is a whole identity: one read
  }
  const scope = `smh#${filter.libraryId}`;
  if (filter.spaceId === undefined)
    return { scope, prefix: '', ...(filter.taskId !== undefined ? { taskId: filter.taskId } : {}) };
  return {
    scope,
    prefix: filter.taskId === undefined ? `${filter.spaceId}#` : `${filter.spaceId}#${filter.taskId}#`,
  };
}

/**
 * A page token of an identity listing, checked before it reaches DynamoDB: issued for this very query, holding
 * the keys of a `byIdentity` entry in this scope, under this prefix.
 */
function decodeIdentityToken(
  token: string | undefined,
  tokenScope: string,
  scope: string,
  prefix: string,
): Key | undefined {
  if (token === undefined) return undefined;
  const cursor = readCursor(
    token,
    tokenScope,
    'keep the filters, status and limit as they were for the first page',
  );
  const key = cursor.key as Key | undefined;
  const sk = key?.[TABLE.identityIndex.rangeKey];
  const valid =
    isIssuedKey(key, scope.slice(0, 3)) &&
    key[TABLE.identityIndex.hashKey] === scope &&
    typeof sk === 'string' &&
    sk.startsWith(prefix) &&
    sk.length <= 512;
  if (!valid) throw new ValidationError(NOT_OURS);
  return key;
}

const NOT_OURS = 'nextToken is not a token this API issued';

/** A token's cursor, issued for this very query (`scope`); `keep` says how to ask for the next page instead. */
function readCursor(token: string, scope: string, keep: string): Partial<Cursor> {
  let cursor: Partial<Cursor>;
  try {
    cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
  } catch {
    throw new ValidationError(NOT_OURS);
  }
  if (cursor === null || typeof cursor !== 'object' || cursor.v !== 1 || typeof cursor.scope !== 'string')
    throw new ValidationError(NOT_OURS);
  if (cursor.scope !== scope) throw new ValidationError(`nextToken belongs to another query: ${keep}`);
  return cursor;
}

/** An index key as this API puts one in a token: three attributes, one of them a record id of the provider. */
function isIssuedKey(key: Key | undefined, provider: string): key is Key {
  const id = key?.[TABLE.hashKey];
  return (
    key !== null &&
    typeof key === 'object' &&
    !Array.isArray(key) &&
    Object.keys(key).length === 3 &&
    typeof id === 'string' &&
    TRACKING_ID_PATTERN.test(id) &&
    id.startsWith(`${provider}_`)
  );
}

function queryScope(query: ListQuery, limit: number): string {
  return `${query.provider ?? '*'}|${query.status ?? '*'}|${limit}`;
}

interface Cursor {
  v: 1;
  scope: string;
  provider: Provider;
  key?: Key;
}

function encodeToken(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/**
 * A page token, checked before it reaches DynamoDB: issued for this very query (provider, status, limit), and
 * holding only the index keys this API puts in one, of the right form for that query.
 */
function decodeToken(
  token: string | undefined,
  scope: string,
  providers: Provider[],
  status: TrackedStatus | undefined,
): { provider: Provider; key?: Key } | undefined {
  if (token === undefined) return undefined;
  const cursor = readCursor(token, scope, 'keep provider, status and limit as they were for the first page');
  const provider = cursor.provider as Provider;
  if (!providers.includes(provider)) throw new ValidationError(NOT_OURS);
  if (cursor.key === undefined) return { provider };
  const key = cursor.key as Key;
  const listSk = key?.[TABLE.listIndex.rangeKey];
  const match =
    typeof listSk === 'string'
      ? /^([a-z]+)#(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)#(.+)$/.exec(listSk)
      : null;
  const valid =
    isIssuedKey(key, provider) &&
    key[TABLE.listIndex.hashKey] === provider &&
    match !== null &&
    (TRACKED_STATUSES as readonly string[]).includes(match[1] as string) &&
    (status === undefined || match[1] === status) &&
    !Number.isNaN(Date.parse(match[2] as string)) &&
    match[3] === key[TABLE.hashKey];
  if (!valid) throw new ValidationError(NOT_OURS);
  return { provider, key };
}
