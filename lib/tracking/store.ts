import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import type { TrackingConfig } from '../config';
import { ValidationError, type Provider } from '../errors';
import { sleep } from '../retry';
import { isFinished } from '../task';
import type { TrackedStatus, TrackedTask } from './model';
import { TABLE } from './table';
import { claim, dueAt, type Context } from './transitions';

/**
 * The tracking table, with single-item conditional writes only (dynalite has no transactions, and none are
 * needed): every write is a Put conditional on the version that was read, and `update()` re-reads and
 * re-applies a transition when another writer won the race. Index attributes (`dueShard`/`dueAt`, `listSk`,
 * `expiresAt`) are derived from the record on every write, never edited by hand.
 */
export interface StoreDeps {
  client: DynamoDBClient;
  config: TrackingConfig;
  now?: () => number;
}

export type Mutation = (current: TrackedTask, ctx: Context) => TrackedTask | null;

export interface ListQuery {
  provider?: Provider;
  status?: TrackedStatus;
  limit?: number;
  nextToken?: string;
}

const PROVIDERS: Provider[] = ['lke', 'smh'];
const MAX_WRITE_TRIES = 8;

export class TaskStore {
  private readonly doc: DynamoDBDocumentClient;
  readonly config: TrackingConfig;
  readonly now: () => number;

  constructor(deps: StoreDeps) {
    this.doc = DynamoDBDocumentClient.from(deps.client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
    this.config = deps.config;
    this.now = deps.now ?? Date.now;
  }

  context(owner?: string): Context {
    return owner === undefined
      ? { now: this.now(), schedule: this.config }
      : { now: this.now(), schedule: this.config, owner };
  }

  async get(id: string): Promise<TrackedTask | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.config.tableName, Key: { id }, ConsistentRead: true }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  /** Writes a new record unless one with its id exists; answers the stored one and whether it was created. */
  async create(task: TrackedTask): Promise<{ task: TrackedTask; created: boolean }> {
    const first = { ...task, version: 1 };
    if (await this.put(first, null)) return { task: first, created: true };
    const existing = await this.get(task.id);
    if (!existing) throw new Error(`record ${task.id} vanished during creation`);
    return { task: existing, created: false };
  }

  /**
   * Applies `mutate` to the current record and writes it if the record did not change meanwhile; on a lost
   * race, reads again and re-applies. Answers the stored record, or undefined when `mutate` had nothing to
   * write (or the record does not exist).
   */
  async update(id: string, mutate: Mutation, options: { current?: TrackedTask; owner?: string } = {}) {
    let current = options.current ?? (await this.get(id));
    for (let attempt = 0; attempt < MAX_WRITE_TRIES && current; attempt++) {
      const next = mutate(current, this.context(options.owner));
      if (!next) return { task: current, written: false };
      const written = { ...next, version: current.version + 1 };
      if (await this.put(written, current.version)) return { task: written, written: true };
      await sleep(Math.random() * 10 * (attempt + 1)); // spread out writers that keep colliding
      current = await this.get(id);
    }
    if (!current) return undefined;
    throw new Error(`record ${id} kept changing: gave up after ${MAX_WRITE_TRIES} tries`);
  }

  /**
   * Claims up to `limit` due tasks of a provider for `owner` until `leaseUntil`. Each claim is a conditional
   * write, so two pollers never hold the same task; a lease that ran out makes the task due again.
   */
  async claimDue(
    provider: Provider,
    owner: string,
    leaseUntil: number,
    limit: number,
  ): Promise<TrackedTask[]> {
    const claimed: TrackedTask[] = [];
    const ctx = { ...this.context(owner), owner };
    const shards = shuffle(Array.from({ length: this.config.dueShards }, (_, n) => `${provider}#${n}`));
    for (const shard of shards) {
      if (claimed.length >= limit) break;
      const { Items = [] } = await this.doc.send(
        new QueryCommand({
          TableName: this.config.tableName,
          IndexName: TABLE.dueIndex.name,
          KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
          ExpressionAttributeNames: { '#shard': TABLE.dueIndex.hashKey, '#dueAt': TABLE.dueIndex.rangeKey },
          ExpressionAttributeValues: { ':shard': shard, ':now': ctx.now },
          Limit: limit - claimed.length,
        }),
      );
      for (const item of Items) {
        const candidate = fromItem(item); // from the index: possibly stale, the conditional write decides
        const next = claim(candidate, ctx, leaseUntil);
        if (!next) continue;
        const written = { ...next, version: candidate.version + 1 };
        if (await this.put(written, candidate.version)) claimed.push(written);
      }
    }
    return claimed;
  }

  async list(query: ListQuery = {}): Promise<{ items: TrackedTask[]; nextToken?: string }> {
    const limit = Math.min(Math.max(query.limit ?? 50, 1), 100);
    const cursor = decodeToken(query.nextToken);
    const providers = query.provider ? [query.provider] : PROVIDERS;
    let index = cursor ? providers.indexOf(cursor.provider) : 0;
    if (index < 0) throw new ValidationError('nextToken does not belong to this query');
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
      const page = await this.doc.send(
        new QueryCommand({
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
        }),
      );
      items.push(...(page.Items ?? []).map(fromItem));
      if (page.LastEvaluatedKey) {
        startKey = page.LastEvaluatedKey;
        if (items.length >= limit) return { items, nextToken: encodeToken({ provider, key: startKey }) };
      } else {
        index++;
        startKey = undefined;
      }
    }
    const nextProvider = providers[index];
    return index < providers.length && nextProvider
      ? { items, nextToken: encodeToken({ provider: nextProvider, key: undefined }) }
      : { items };
  }

  /** One conditional Put: on a new id (`expectedVersion` null) or on the version that was read. */
  private async put(task: TrackedTask, expectedVersion: number | null): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.config.tableName,
          Item: toItem(task, this.config),
          ...(expectedVersion === null
            ? { ConditionExpression: 'attribute_not_exists(id)' }
            : {
                ConditionExpression: '#v = :v',
                ExpressionAttributeNames: { '#v': 'version' },
                ExpressionAttributeValues: { ':v': expectedVersion },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (
        error instanceof ConditionalCheckFailedException ||
        (error as Error).name === 'ConditionalCheckFailedException'
      ) {
        return false;
      }
      throw error;
    }
  }
}

function shardOf(id: string, shards: number): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) % shards;
}

export function toItem(task: TrackedTask, config: Pick<TrackingConfig, 'dueShards' | 'retentionDays'>) {
  const provider = task.identity.provider;
  const item: Record<string, unknown> = {
    ...task,
    provider,
    [TABLE.listIndex.rangeKey]: `${task.status}#${task.firstSeenAt}#${task.id}`,
  };
  const due = dueAt(task);
  if (due !== null) {
    // In the sparse due-index while there is something to do: a check, an outbox to deliver, a lease to expire.
    item[TABLE.dueIndex.hashKey] = `${provider}#${shardOf(task.id, config.dueShards)}`;
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
    [TABLE.dueIndex.hashKey]: _shard,
    [TABLE.dueIndex.rangeKey]: _dueAt,
    [TABLE.ttlAttribute]: _expiresAt,
    ...task
  } = item;
  return task as unknown as TrackedTask;
}

function encodeToken(cursor: { provider: Provider; key: Record<string, unknown> | undefined }): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeToken(
  token: string | undefined,
): { provider: Provider; key?: Record<string, unknown> } | undefined {
  if (token === undefined) return undefined;
  try {
    const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
      provider?: unknown;
      key?: unknown;
    };
    const provider = cursor.provider as Provider;
    if (!PROVIDERS.includes(provider)) throw new Error('bad provider');
    if (cursor.key === undefined) return { provider };
    // Only the index keys this API puts in a token, of the right types, for the same provider.
    const key = cursor.key as Record<string, unknown>;
    const names = [TABLE.hashKey, TABLE.listIndex.hashKey, TABLE.listIndex.rangeKey];
    const valid =
      key !== null &&
      typeof key === 'object' &&
      Object.keys(key).length === names.length &&
      names.every((name) => typeof key[name] === 'string') &&
      key[TABLE.listIndex.hashKey] === provider;
    if (!valid) throw new Error('bad key');
    return { provider, key };
  } catch {
    throw new ValidationError('nextToken is not a token this API issued');
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
