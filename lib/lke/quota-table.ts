import { randomUUID } from 'node:crypto';
import type { DynamoDb } from '../aws/dynamodb';
import { sendWithin } from '../tracking/table';
import type { CallOptions } from '../upstream';

/**
 * The shared LKE quota's schedule in the tracking table: one small item, `quota#<name>`, holding the time its
 * next free slot opens (a GCRA "theoretical arrival time"), moved with conditional UpdateItems. Its only user is
 * lib/lke/quota.ts (SharedQuota), which decides when to reserve and when to give back.
 *
 * Real time, not a store's clock: the quota is Tencent's, counted in real seconds.
 */

/**
 * A slot reservation. `first`: when the first reserved slot opens; `earliest`: when its call may already go (on a
 * schedule that was idle, at once: nothing is booked within a slot before it, and the next caller's slot is after
 * `next`). Or `busyUntil`: when the schedule's next free slot opens (it was booked beyond the latest start asked
 * for). `next`: the schedule's next free slot as last seen.
 */
export type Reservation = (
  | {
      first: number;
      earliest: number;
      /** The schedule's change count right after this reservation: a return of its slots names it. */
      seq: number;
    }
  | { busyUntil: number }
) & { next: number };

/** DynamoDB operations made for quota reservations, for cost accounting. */
export interface QuotaStats {
  reservations: number;
  writes: number;
  reads: number;
}

/** A schedule that was idle starts this far ahead of the reservation, time for its answer to come back. */
const IDLE_LEAD_MS = 100;

export interface QuotaTableDeps {
  client: DynamoDb;
  tableName: string;
  /** The caller's deadline and signal (`within`). */
  call?: CallOptions;
  newId?: () => string;
}

export class QuotaTable {
  constructor(private readonly deps: QuotaTableDeps) {}

  /** The same table, every call bounded by the caller's deadline and signal. */
  within(call: CallOptions): QuotaTable {
    return new QuotaTable({ ...this.deps, call });
  }

  /**
   * Reserves `count` consecutive start slots, `spacingMs` apart, on the schedule `name`. Succeeds only if the
   * first slot opens by `latestStart` (epoch ms); otherwise answers when it will have. One conditional UpdateItem
   * when the schedule is busy (the usual case under load), two when it has gone idle, plus a read on refusal. A
   * reservation whose answer was lost and that the client sent again may book twice: slots wasted, never shared.
   */
  async reserveSlots(
    name: string,
    count: number,
    spacingMs: number,
    latestStart: number,
    stats?: QuotaStats,
    /** The schedule's next free slot as the caller last saw it: picks the likelier path first. */
    seen = 0,
  ): Promise<Reservation> {
    const key = { id: `quota#${name}` };
    const span = count * spacingMs;
    // Every change of the schedule counts itself in `seq` (a reservation, a return), so that a return can name
    // the state it gives back from.
    const update = async (expression: string, condition: string, values: Record<string, number>) => {
      if (stats) stats.writes++;
      try {
        const { Attributes } = await this.send('UpdateItem', {
          TableName: this.deps.tableName,
          Key: key,
          UpdateExpression: `${expression} ADD #seq :one`,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#next': 'next', '#seq': 'seq' },
          ExpressionAttributeValues: { ...values, ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        });
        return { end: Number(Attributes?.next), seq: Number(Attributes?.seq) };
      } catch (error) {
        if ((error as Error).name === 'ConditionalCheckFailedException') return undefined;
        throw error;
      }
    };
    if (stats) stats.reservations++;
    // Busy: the next free slot is ahead of us, but opens by latestStart.
    const busy = () =>
      update('SET #next = #next + :span', '#next BETWEEN :now AND :latest', {
        ':span': span,
        ':now': Date.now(),
        ':latest': latestStart,
      });
    // Idle: nothing is booked from now on. The first slot opens IDLE_LEAD_MS ahead, so that the answer (a round
    // trip) arrives before it does.
    let idleSince = 0;
    const idle = () => {
      const now = Date.now();
      idleSince = now;
      return update('SET #next = :end', 'attribute_not_exists(#next) OR #next < :now', {
        ':end': now + IDLE_LEAD_MS + span,
        ':now': now,
      });
    };
    let next = seen;
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = Date.now();
      if (now > latestStart) return { busyUntil: Math.max(now, next), next };
      // Try what the schedule looked like last time first (busy: that path alone; idle: idle, then busy; not
      // known: busy, then idle); a refusal of both is settled by one read.
      const paths = next === 0 ? [busy, idle] : next >= now ? [busy] : [idle, busy];
      for (const path of next > latestStart ? [] : paths) {
        const done = await path();
        if (done === undefined) continue;
        const { end, seq } = done;
        return { first: end - span, earliest: path === idle ? idleSince : end - span, next: end, seq };
      }
      if (stats) stats.reads++;
      const { Item } = await this.send('GetItem', {
        TableName: this.deps.tableName,
        Key: key,
        ConsistentRead: true,
      });
      next = Number(Item?.next ?? 0);
      if (next > latestStart) return { busyUntil: next, next };
      // It moved between our tries: try again.
    }
    return { busyUntil: Date.now() + spacingMs, next };
  }

  /**
   * Gives back the last `spanMs` of the schedule `name`, if nothing changed it since the caller's reservation or
   * last return (`seq`, the change count it was given then): slots a caller reserved and will not use become free
   * for others. One conditional write, marked with an id of its own. It never applies twice, nor over a change
   * made in between (which a condition on the next free slot alone would not see: another caller may book and give
   * back the same span). When its answer is lost and the client sends it again, the failed condition is read back,
   * and a write that did land is known as such. Answers the schedule's change count after the return, or undefined
   * when nothing was given back.
   */
  async returnSlots(
    name: string,
    seq: number,
    spanMs: number,
    stats?: QuotaStats,
  ): Promise<number | undefined> {
    const key = { id: `quota#${name}` };
    const mark = (this.deps.newId ?? randomUUID)();
    if (stats) stats.writes++;
    try {
      const { Attributes } = await this.send('UpdateItem', {
        TableName: this.deps.tableName,
        Key: key,
        UpdateExpression: 'SET #next = #next - :span, #returned = :mark ADD #seq :one',
        ConditionExpression: '#seq = :seq',
        ExpressionAttributeNames: { '#next': 'next', '#returned': 'returned', '#seq': 'seq' },
        ExpressionAttributeValues: { ':span': spanMs, ':seq': seq, ':mark': mark, ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      });
      return Number(Attributes?.seq);
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      if (stats) stats.reads++;
      const { Item } = await this.send('GetItem', {
        TableName: this.deps.tableName,
        Key: key,
        ConsistentRead: true,
      });
      // Ours landed: the count it left is known (others may have changed the schedule since).
      return Item?.returned === mark ? seq + 1 : undefined;
    }
  }

  private send(operation: 'UpdateItem' | 'GetItem', input: Record<string, unknown>) {
    return sendWithin(this.deps.client, operation, input, this.deps.call);
  }
}
