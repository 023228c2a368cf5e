/**
 * One scheduler tick against 100,000 certificates on DynamoDB Local: how many items the due
 * query reads per item due (at most 1.1: the tick costs what is due, not the fleet) and how
 * long it takes, next to the full Scan (`list()`) it replaced. Not a test: it prints
 * figures to compare across changes.
 *
 *   npm run bench:tick [-- --certificates 100000 --due 50]
 *   (npx tsx scripts/peers.ts run -- npx tsx bench/scheduler-tick.ts)
 *
 * Items are bulk-loaded with BatchWriteItem in the adapter's own item format
 * (`certificateItem`): a lease and a transaction per item would take minutes.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteTableCommand,
  type DynamoDBClient,
  ScanCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { createTable } from '../shared/dynamo/table.js';
import { certificateItem, DynamoInventory } from '../shared/inventory/dynamodb.js';
import { DAY, HOUR, MINUTE } from '../shared/model/clock.js';
import { parseCertificateSpec } from '../shared/model/spec.js';
import type { CertificateState } from '../shared/model/state.js';
import { dynamodbClient, uniqueName } from '../scripts/test-kit/peers.js';

const { values: args } = parseArgs({
  options: {
    certificates: { type: 'string', default: '100000' },
    due: { type: 'string', default: '50' },
  },
});
const CERTIFICATES = Number(args.certificates);
const DUE = Number(args.due);
if (!Number.isInteger(CERTIFICATES) || CERTIFICATES < 100) {
  throw new Error('--certificates must be a whole number >= 100');
}
if (!Number.isInteger(DUE) || DUE < 1 || DUE > CERTIFICATES / 2) {
  throw new Error('--due must be a whole number between 1 and half the certificates');
}
const RETIRED = 20;
const TICKS = 15;
/** A full Scan of the fleet takes seconds at this size: one or two runs say enough. */
const SCANS = CERTIFICATES > 20_000 ? 1 : 3;
/** BatchWriteItem takes at most 25 items; this many batches are in flight at once. */
const BATCH = 25;
const PARALLEL = 16;

const iso = (ms: number) => new Date(ms).toISOString();
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const b64url = (bytes: number) => randomBytes(bytes).toString('base64url');

/**
 * Certificate `i` as a fleet would have it: about 60% IP certificates on the 160-hour
 * `shortlived` profile, the rest a name plus its wildcard on 90 days; each in place with
 * an ARI window. The first DUE are due (a few of them failing), the last RETIRED retired
 * (no dueAt, so outside the index), the others due at some time in the next 60 days.
 */
function certificate(i: number, now: number): Record<string, AttributeValue> {
  const name = `node-${String(i).padStart(6, '0')}`;
  const ip = i % 5 < 3;
  const spec = parseCertificateSpec({
    name,
    identifiers: ip
      ? [`203.0.${113 + (i % 3)}.${1 + (i % 254)}`]
      : [`${name}.fleet.example.com`, `*.${name}.fleet.example.com`],
  });
  const lifetime = ip ? 160 * HOUR : 90 * DAY;
  const retired = i >= CERTIFICATES - RETIRED;
  const dueAt = i < DUE ? now - (1 + (i % 10)) * MINUTE : now + 1 + Math.floor(Math.random() * 60 * DAY);
  const notBefore = dueAt - (lifetime * 2) / 3;
  const certId = `${b64url(20)}.${b64url(16)}`;
  const failing = i < DUE && i % 10 === 0;
  const state: CertificateState = {
    status: retired ? 'retired' : failing ? 'failing' : 'valid',
    current: {
      serial: hex(18),
      notBefore: iso(notBefore),
      notAfter: iso(notBefore + lifetime),
      manifestKey: `certificates/${name}/current.json`,
      certId,
      ...(spec.profile ? { profile: spec.profile } : {}),
    },
    ari: {
      certId,
      windowStart: iso(dueAt - 12 * HOUR),
      windowEnd: iso(dueAt + 12 * HOUR),
      selectedAt: iso(dueAt),
      lastPolledAt: iso(now - 3 * HOUR),
      nextPollAt: iso(dueAt),
    },
    attempts: failing ? 4 : 0,
    ...(failing
      ? {
          lastError: {
            code: 'acme-problem',
            type: 'urn:ietf:params:acme:error:connection',
            detail: 'Fetching http://203.0.113.7/.well-known/acme-challenge/x: Timeout during connect',
            at: iso(dueAt - HOUR),
          },
          nextAttemptAt: iso(dueAt),
        }
      : {}),
    lastSuccessAt: iso(notBefore),
    ...(retired ? {} : { dueAt: iso(dueAt) }),
    updatedAt: iso(now - HOUR),
  };
  return certificateItem(spec, state);
}

async function load(client: DynamoDBClient, tableName: string, now: number): Promise<void> {
  // Batches are made as they are sent: a hundred thousand items at once would be a lot of heap.
  let next = 0;
  const nextBatch = (): WriteRequest[] | undefined => {
    if (next >= CERTIFICATES) return undefined;
    const start = next;
    const size = Math.min(BATCH, CERTIFICATES - start);
    next += size;
    return Array.from({ length: size }, (_, j) => ({ PutRequest: { Item: certificate(start + j, now) } }));
  };
  const writeBatch = async (requests: WriteRequest[]) => {
    // DynamoDB may hand part of a batch back (throttling); write that part again.
    for (let left = requests, attempt = 0; left.length > 0; attempt++) {
      if (attempt > 10) throw new Error(`${left.length} items were still unprocessed after 10 retries`);
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: left } }));
      left = out.UnprocessedItems?.[tableName] ?? [];
      if (left.length > 0) await new Promise((done) => setTimeout(done, 20 * 2 ** attempt));
    }
  };
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      for (let batch = nextBatch(); batch; batch = nextBatch()) await writeBatch(batch);
    }),
  );
}

/** Items a full Scan reads: its ScannedCount, counted without transferring the items. */
async function scannedByScan(client: DynamoDBClient, tableName: string): Promise<number> {
  let scanned = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(
      new ScanCommand({
        TableName: tableName,
        Select: 'COUNT',
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    scanned += out.ScannedCount ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return scanned;
}

async function timed<T>(step: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await step();
  return { ms: performance.now() - started, result };
}

function summary(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const f = (n: number) => n.toFixed(1);
  return `median ${f(median)} ms, min ${f(sorted[0]!)} ms, max ${f(sorted.at(-1)!)} ms`;
}

const row = (label: string, value: string) => console.log(`  ${`${label}:`.padEnd(24)} ${value}`);

async function main(): Promise<void> {
  const client = dynamodbClient();
  const tableName = uniqueName('bench-scheduler-tick');
  const began = performance.now();
  await createTable(client, tableName);
  try {
    const now = Date.now();
    const loaded = await timed(() => load(client, tableName, now));
    const inventory = new DynamoInventory({ client, tableName });

    // The scheduler's query, as the tick makes it; the first run warms connections up.
    await inventory.listDue(new Date(now));
    const ticks = [];
    for (let i = 0; i < TICKS; i++) ticks.push(await timed(() => inventory.listDue(new Date(now))));
    const due = ticks[0]!.result;

    const scans = [];
    for (let i = 0; i < SCANS; i++) scans.push(await timed(() => inventory.list()));
    const scanned = await scannedByScan(client, tableName);

    console.log(`scheduler tick on DynamoDB Local (${tableName})`);
    row('items in inventory', `${CERTIFICATES} (${RETIRED} retired, outside the due index)`);
    row('loaded in', `${(loaded.ms / 1000).toFixed(1)} s (BatchWriteItem, ${PARALLEL} in flight)`);
    row('items due', `${due.records.length}`);
    row('items read per tick', `${due.itemsRead} (Query on due-index, ScannedCount)`);
    row('read / due', `${(due.itemsRead / Math.max(1, due.records.length)).toFixed(3)} (target <= 1.1)`);
    row(`tick time (${TICKS} runs)`, summary(ticks.map((t) => t.ms)));
    row('full list() scan', `${scans[0]!.result.length} records, ${scanned} items read (ScannedCount)`);
    row(`scan time (${SCANS} runs)`, summary(scans.map((s) => s.ms)));
  } finally {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
    client.destroy();
  }
  row('total', `${((performance.now() - began) / 1000).toFixed(1)} s`);
}

await main();
