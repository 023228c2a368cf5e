import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  type AttributeValue,
  DeleteItemCommand,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type ConditionalCheckFailedException,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { type DynamoTableOptions, sendDynamo } from '../dynamo/call.js';
import { N, S, stringAttribute } from '../dynamo/item.js';
import {
  CERT_KEY_PREFIX,
  certKey,
  DUE_AT_ATTRIBUTE,
  DUE_INDEX_NAME,
  DUE_SHARD,
  DUE_SHARD_ATTRIBUTE,
  dueIndexTime,
  PARTITION_KEY,
} from '../dynamo/table.js';
import { leaseLost } from '../lock/lease.js';
import type { Lease } from '../lock/lock.js';
import { parseStored, parseStoredJson } from '../lock/stored.js';
import { ConflictError, IntegrityError } from '../model/errors.js';
import type { CertificateSpec } from '../model/spec.js';
import type { CertificateState, InventoryRecord } from '../model/state.js';
import type { DueRecords, Inventory, PutStateOptions } from './inventory.js';
import { certificateGone, checkSameName, newerFence } from './refusals.js';
import { storedSpecFor, storedState, toStoredSpec, toStoredState } from './record.js';

/**
 * The state is stored gzip-compressed (B): DynamoDB bills a write by the item's size in
 * whole KB, twice over in a transaction and once more for the due index, which projects the
 * whole item, and a state carrying its outbox's events is just over 1 KB as JSON and about
 * 0.45 KB compressed. Items written as JSON text (S) before that are still read.
 * `aws dynamodb get-item ... --query Item.state.B --output text | base64 -d | gunzip`.
 */
const stateAttribute = z.union([z.object({ S: z.string() }), z.object({ B: z.instanceof(Uint8Array) })]);

const certItem = z.object({ pk: stringAttribute, spec: stringAttribute, state: stateAttribute });

/**
 * A concurrent write to the same item (our own lease renewal cancelling a transaction, a
 * state write landing between update's read and write) is retried this many times.
 */
const WRITE_ATTEMPTS = 4;

/**
 * Inventory on the `cert#<name>` items of the deployment table (see dynamo/table.ts).
 * Reads are strongly consistent: a worker that just took the lease re-reads the state to
 * see whether another worker already renewed, and an eventually consistent read could
 * answer with the state from before that renewal. The one exception is listDue: a global
 * secondary index offers only eventual consistency, which the scheduler can live with
 * (the issuer re-reads under the lease, and a missed item is due again at the next tick).
 */
export class DynamoInventory implements Inventory {
  constructor(private readonly table: DynamoTableOptions) {}

  async get(name: string): Promise<InventoryRecord | undefined> {
    return (await this.read(name))?.record;
  }

  /** Every certificate, sorted by name. A Scan of the whole table: the scheduler uses listDue. */
  async list(): Promise<InventoryRecord[]> {
    const records: InventoryRecord[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await sendDynamo(this.table, { operation: 'Scan', key: `${CERT_KEY_PREFIX}*` }, () =>
        this.table.client.send(
          new ScanCommand({
            TableName: this.table.tableName,
            // Lock and meta items share the table; only `cert#` items are certificates.
            FilterExpression: 'begins_with(#pk, :prefix)',
            ExpressionAttributeNames: { '#pk': PARTITION_KEY },
            ExpressionAttributeValues: { ':prefix': S(CERT_KEY_PREFIX) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      records.push(...(out.Items ?? []).map((item) => toRecord(item).record));
      start = out.LastEvaluatedKey;
    } while (start);
    return records.sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  }

  /**
   * Read, ask `change`, then one UpdateItem conditional on the item still being what was
   * read: absent, or the same spec and state strings. The condition covers the state as
   * well as the spec because the new record is derived from the old one: a renewal's state
   * write landing in between would otherwise be overwritten by a stale copy. A lost race
   * reads again. Not fenced, on purpose: declaring a certificate is the operator's act.
   */
  async update(
    name: string,
    change: (stored: InventoryRecord | undefined) => InventoryRecord | undefined,
  ): Promise<InventoryRecord | undefined> {
    let written: InventoryRecord | undefined;
    await untilWritten(`changing ${name}`, 'try again', async () => {
      written = undefined;
      const stored = await this.read(name);
      const next = change(stored?.record);
      if (!next) return true;
      checkSameName(name, next);
      const update = stateUpdate(next.state, { spec: S(JSON.stringify(toStoredSpec(next.spec))) });
      const condition: {
        expression: string;
        names: Record<string, string>;
        values: Record<string, AttributeValue>;
      } = stored
        ? {
            expression: '#spec = :readSpec AND #state = :readState',
            names: {},
            values: { ':readSpec': S(stored.spec), ':readState': stored.state },
          }
        : { expression: 'attribute_not_exists(#pk)', names: { '#pk': PARTITION_KEY }, values: {} };
      const done = await sendDynamo(
        this.table,
        { operation: 'UpdateItem', key: certKey(name) },
        async () => {
          await this.table.client.send(
            new UpdateItemCommand({
              TableName: this.table.tableName,
              Key: this.key(name),
              UpdateExpression: update.UpdateExpression,
              ConditionExpression: condition.expression,
              ExpressionAttributeNames: { ...update.ExpressionAttributeNames, ...condition.names },
              ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ...condition.values },
            }),
          );
          return true;
        },
        () => false,
      );
      if (done) written = next;
      return done;
    });
    return written;
  }

  /**
   * One UpdateItem that raises the item's `fence` to this lease's token (refused if the
   * item carries a newer one) and returns the item as it is after that: the strongly
   * consistent re-read under the lease, and the point from which putState refuses every
   * older lease. A late holder's write that landed between the takeover and this claim is
   * in what it returns, so nothing the new holder decides rests on a stale state.
   */
  async claim(name: string, lease: Lease): Promise<InventoryRecord | undefined> {
    const request = { operation: 'UpdateItem', key: certKey(name) };
    return sendDynamo(
      this.table,
      request,
      async () => {
        const out = await this.table.client.send(
          new UpdateItemCommand({
            TableName: this.table.tableName,
            Key: this.key(name),
            UpdateExpression: 'SET #fence = :fence',
            ConditionExpression: FENCE_CONDITION,
            ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#fence': 'fence' },
            ExpressionAttributeValues: { ':fence': N(lease.fencingToken) },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return out.Attributes ? toRecord(out.Attributes).record : undefined;
      },
      (err) => {
        const old = (err as ConditionalCheckFailedException).Item;
        if (!old) return undefined;
        throw refusedByCertificate(name, lease, old);
      },
    );
  }

  /**
   * The fenced write: one UpdateItem conditional on the item's `fence` being at most this
   * lease's token, stamping it with the token. The issuer claims the item (claim above)
   * right after taking the lease and before reading, so once a worker has taken over, a
   * worker whose lease expired fails this check however late it wakes up; and the token
   * comes from the lock's counter, which only grows. One write, not a transaction with a
   * check of the lock item: half the write units, and the due index written once.
   */
  async putState(
    name: string,
    state: CertificateState,
    lease: Lease,
    options: PutStateOptions = {},
  ): Promise<void> {
    const update = stateUpdate(state, { fence: N(lease.fencingToken) });
    const request = { operation: 'UpdateItem', key: certKey(name) };
    await sendDynamo(
      this.table,
      request,
      () =>
        this.table.client.send(
          new UpdateItemCommand({
            TableName: this.table.tableName,
            Key: this.key(name),
            ...update,
            // A follow-up of this lease's own write: the item must still carry its token.
            ConditionExpression: options.followsOwnWrite
              ? 'attribute_exists(#pk) AND #fence = :fence'
              : FENCE_CONDITION,
            ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#pk': PARTITION_KEY },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      (err) => {
        throw refusedByCertificate(name, lease, (err as ConditionalCheckFailedException).Item);
      },
    );
  }

  async remove(name: string): Promise<void> {
    // The lock item is left to DynamoDB TTL: a renewal in flight finds the certificate gone
    // (attribute_exists fails) rather than a lock that vanished under it.
    await sendDynamo(this.table, { operation: 'DeleteItem', key: certKey(name) }, () =>
      this.table.client.send(new DeleteItemCommand({ TableName: this.table.tableName, Key: this.key(name) })),
    );
  }

  /**
   * One Query on the sparse `due-index` (`dueShard = "due" AND dueAt <= now`): it holds
   * only certificates with a dueAt, in dueAt order, so a tick reads the items that are due
   * rather than the whole inventory. The index projects every attribute: no second read.
   */
  async listDue(now: Date, limit?: number): Promise<DueRecords> {
    const records: InventoryRecord[] = [];
    let itemsRead = 0;
    let start: Record<string, AttributeValue> | undefined;
    do {
      const request = { operation: 'Query', key: `${CERT_KEY_PREFIX}* in ${DUE_INDEX_NAME}` };
      const out = await sendDynamo(this.table, request, () =>
        this.table.client.send(
          new QueryCommand({
            TableName: this.table.tableName,
            IndexName: DUE_INDEX_NAME,
            KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
            ExpressionAttributeNames: { '#shard': DUE_SHARD_ATTRIBUTE, '#dueAt': DUE_AT_ATTRIBUTE },
            ExpressionAttributeValues: { ':shard': S(DUE_SHARD), ':now': S(dueIndexTime(now)) },
            ExclusiveStartKey: start,
            ...(limit === undefined ? {} : { Limit: limit - records.length }),
          }),
        ),
      );
      itemsRead += out.ScannedCount ?? 0;
      records.push(...(out.Items ?? []).map((item) => toRecord(item).record));
      start = out.LastEvaluatedKey;
    } while (start && (limit === undefined || records.length < limit));
    return { records, itemsRead };
  }

  /** The record with the strings it was parsed from, for update's condition. */
  private async read(name: string): Promise<StoredItem | undefined> {
    const out = await sendDynamo(this.table, { operation: 'GetItem', key: certKey(name) }, () =>
      this.table.client.send(
        new GetItemCommand({ TableName: this.table.tableName, Key: this.key(name), ConsistentRead: true }),
      ),
    );
    return out.Item ? toRecord(out.Item) : undefined;
  }

  private key(name: string): Record<string, AttributeValue> {
    return { [PARTITION_KEY]: S(certKey(name)) };
  }
}

interface StoredItem {
  record: InventoryRecord;
  /** The `spec` string and `state` attribute as stored. */
  spec: string;
  state: AttributeValue;
}

function toRecord(item: Record<string, AttributeValue>): StoredItem {
  const where = `DynamoDB item ${item[PARTITION_KEY]?.S ?? '(without pk)'}`;
  const raw = parseStored(certItem, item, { where });
  const name = raw.pk.slice(CERT_KEY_PREFIX.length);
  const record = {
    spec: parseStoredJson(storedSpecFor(name), raw.spec, { where: `${where} (spec)` }),
    state: parseStoredJson(storedState, stateText(raw.state, where), { where: `${where} (state)` }),
  };
  return { record, spec: raw.spec, state: raw.state };
}

function stateText(stored: { S: string } | { B: Uint8Array }, where: string): string {
  if ('S' in stored) return stored.S;
  try {
    return gunzipSync(stored.B).toString('utf8');
  } catch (err) {
    throw new IntegrityError(
      `${where} (state): is not gzip-compressed JSON (${err instanceof Error ? err.message : String(err)})`,
      `restore ${where} from a backup, or delete it and declare the certificate again`,
    );
  }
}

/**
 * What writing `state` sets on the certificate item, and what it removes: the sparse
 * due-index pair follows `state.dueAt`, present while there is one, removed when there is
 * none, so a retired certificate leaves the index.
 */
function stateAttributes(state: CertificateState): { set: Record<string, AttributeValue>; remove: string[] } {
  // Validated first: a malformed dueAt is refused here, not turned into a bad sort key.
  const stored = toStoredState(state);
  const set: Record<string, AttributeValue> = { state: { B: gzipSync(JSON.stringify(stored)) } };
  if (stored.dueAt === undefined) return { set, remove: [DUE_SHARD_ATTRIBUTE, DUE_AT_ATTRIBUTE] };
  return {
    set: { ...set, [DUE_SHARD_ATTRIBUTE]: S(DUE_SHARD), [DUE_AT_ATTRIBUTE]: S(dueIndexTime(stored.dueAt)) },
    remove: [],
  };
}

/** The UpdateItem parts that write `state` (see stateAttributes) plus `also` (attribute -> value). */
function stateUpdate(state: CertificateState, also: Record<string, AttributeValue>) {
  const { set: written, remove } = stateAttributes(state);
  const set = { ...written, ...also };
  const assignments = Object.keys(set).map((a) => `#${a} = :${a}`);
  return {
    UpdateExpression: `SET ${assignments.join(', ')}${remove.length > 0 ? ` REMOVE #${remove.join(', #')}` : ''}`,
    ExpressionAttributeNames: Object.fromEntries([...Object.keys(set), ...remove].map((a) => [`#${a}`, a])),
    ExpressionAttributeValues: Object.fromEntries(Object.entries(set).map(([a, v]) => [`:${a}`, v])),
  };
}

/**
 * A whole certificate item as the adapter would leave it after declaring `spec` and
 * writing `state` (no fence yet), for bulk loads such as bench/scheduler-tick.ts that
 * cannot afford a lease and a transaction per item.
 */
export function certificateItem(
  spec: CertificateSpec,
  state: CertificateState,
): Record<string, AttributeValue> {
  return {
    [PARTITION_KEY]: S(certKey(spec.name)),
    spec: S(JSON.stringify(toStoredSpec(spec))),
    ...stateAttributes(state).set,
  };
}

/** Runs `write` until it reports success, backing off between collisions; gives up after a few. */
async function untilWritten(what: string, advice: string, write: () => Promise<boolean>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    if (await write()) return;
    if (attempt === WRITE_ATTEMPTS) {
      throw new ConflictError(`${what} collided with other writes ${attempt} times; ${advice}`);
    }
    await sleep(50 * attempt * (1 + Math.random()));
  }
}

/**
 * A fenced write or claim may go ahead while the item carries no token newer than the
 * lease's. `:fence` is the token; names `#pk` and `#fence`.
 */
const FENCE_CONDITION = 'attribute_exists(#pk) AND (attribute_not_exists(#fence) OR #fence <= :fence)';

/**
 * The certificate item refused: removed, or claimed or written under a newer lease (the
 * lease was taken over; or, with the lock item's counter gone backwards, hand edits).
 */
function refusedByCertificate(name: string, lease: Lease, old: Record<string, AttributeValue> | undefined) {
  if (!old) return certificateGone(name);
  const stored = old['fence']?.N;
  if (stored !== undefined && Number(stored) > lease.fencingToken) {
    const refused = leaseLost(lease, `writing the state of ${name}`);
    return new ConflictError(`${refused.message}; ${newerFence(name, stored, lease.fencingToken).message}`);
  }
  // Not newer, yet refused: a follow-up write whose own write is not the last one.
  return newerFence(name, stored ?? '?', lease.fencingToken);
}
